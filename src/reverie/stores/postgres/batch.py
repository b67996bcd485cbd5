"""A batch of LangGraph operations (and :class:`NamespaceSearch`), as one plan.

Texts are embedded first (the puts' and the queries'), outside any transaction. A batch that
writes is one transaction: it takes the written namespaces' locks (the same locks commits take,
so a plain put cannot slip between a commit's check and its write), reads, then writes. Reads
see the state before the batch's puts; several puts to one key keep the last.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, Result, SearchOp

from reverie.core.errors import InputError
from reverie.core.joint_search import split_joint
from reverie.core.ports import NamespaceSearch, PortOp
from reverie.core.requests import checked_ops, reads_nothing
from reverie.retrieval.query_text import shared_share
from reverie.stores.postgres import hybrid
from reverie.stores.postgres.namespaces import (
    check_listing,
    checked,
    list_namespaces,
    lock_namespaces,
)
from reverie.stores.postgres.rows import get_items, item_key, refresh_ttl, to_item
from reverie.stores.postgres.search import SearchRequest, search
from reverie.stores.postgres.settings import StoreSettings
from reverie.stores.postgres.steps import Embed, Plan, Release, Transaction
from reverie.stores.postgres.writes import changes_something, prepare, write_rows


def run_batch(ops: Sequence[PortOp], settings: StoreSettings) -> Plan[list[Result]]:
    """Results in the order of ``ops``."""
    # A search with ``also`` runs as one search per namespace, merged by score.
    flat, join = split_joint(checked_ops(ops, settings.limits))
    return join((yield from _run_checked(flat, settings)))


def _run_checked(ops: Sequence[PortOp], settings: StoreSettings) -> Plan[list[Result]]:
    results: list[Result] = [None] * len(ops)
    gets: list[tuple[int, GetOp]] = []
    searches: list[tuple[int, SearchRequest]] = []
    listings: list[tuple[int, ListNamespacesOp]] = []
    puts: list[PutOp] = []
    for i, op in enumerate(ops):
        if isinstance(op, GetOp):
            checked(tuple(op.namespace))
            if not reads_nothing(op):
                gets.append((i, op))
        elif isinstance(op, SearchOp | NamespaceSearch):
            request = _request(op, settings)
            if reads_nothing(op):
                results[i] = []
            else:
                searches.append((i, request))
        elif isinstance(op, ListNamespacesOp):
            check_listing(op)
            if reads_nothing(op):
                results[i] = []
            else:
                listings.append((i, op))
        elif isinstance(op, PutOp):
            if changes_something(op):
                puts.append(op)
        else:
            raise InputError(
                f"Unknown store operation {type(op).__name__}; batch() takes GetOp, PutOp, "
                "SearchOp, ListNamespacesOp and NamespaceSearch."
            )
    prepared = prepare(puts, settings.index)
    document_vectors = yield from Embed(tuple(prepared.texts))
    queries = [r.query for _, r in searches if r.query and settings.index is not None]
    distinct_queries = tuple(dict.fromkeys(q for q in queries if q is not None))
    vector_texts = yield from _vector_texts([r for _, r in searches], settings)
    texts = tuple(dict.fromkeys(vector_texts.get(q, q) for q in distinct_queries))
    vectors = dict(zip(texts, (yield from Embed(texts, query=True)), strict=True))
    query_vectors = {q: vectors[vector_texts.get(q, q)] for q in distinct_queries}

    vector_searches = any(r.query for _, r in searches) and settings.searches_need_transaction
    if puts or vector_searches:
        yield from Transaction()
    yield from lock_namespaces(prepared.paths)
    if gets:
        found = yield from get_items([item_key(op.namespace, op.key) for _, op in gets])
        for i, op in gets:
            row = found.get(item_key(op.namespace, op.key))
            results[i] = None if row is None else to_item(row)
        refreshed = [found.get(item_key(op.namespace, op.key)) for _, op in gets if op.refresh_ttl]
        yield from refresh_ttl(row for row in refreshed if row is not None)
    for i, request in searches:
        vector = query_vectors.get(request.query) if request.query else None
        results[i] = yield from search(request, vector, settings.vector_search)
    for i, listing in listings:
        results[i] = yield from list_namespaces(listing)
    if prepared.rows:
        yield from write_rows(prepared, document_vectors, settings.schema, settings.index)
    return results


def _vector_texts(searches: list[SearchRequest], settings: StoreSettings) -> Plan[dict[str, str]]:
    """Query -> the text embedded for it, where that is not the query itself: in hybrid
    ranking, the query less the words most of the memories it searches share (``hybrid``);
    the searches of one query in a batch share one vector, so their scores stay comparable.
    The connection those counts took is handed back before the queries are embedded."""
    vectors = settings.vector_search
    if vectors is None or vectors.ranking is None or settings.index is None:
        return {}
    default = vectors.ranking
    searched: dict[str, list[SearchRequest]] = {}
    for request in searches:
        if request.query:
            searched.setdefault(request.query, []).append(request)
    found: dict[str, str] = {}
    for query, requests in searched.items():
        share = shared_share((r.ranking or default).vector_share for r in requests)
        if share is not None:
            scopes = [(r.namespace, r.descendants) for r in requests]
            text = yield from hybrid.vector_text(query, scopes, share)
            if text != query:
                found[query] = text
    if searched:
        yield from Release()
    return found


def _request(op: SearchOp | NamespaceSearch, settings: StoreSettings) -> SearchRequest:
    options: dict[str, object] = {}
    if isinstance(op, NamespaceSearch):
        namespace, descendants, refresh = op.namespace, op.descendants, op.refresh_ttl
        options = {"min_score": op.min_score, "diversity": op.diversity, "ranking": op.ranking}
    else:
        namespace, descendants, refresh = op.namespace_prefix, True, op.refresh_ttl
    return SearchRequest(
        **options,  # type: ignore[arg-type]
        namespace=checked(tuple(namespace)) if namespace else (),
        descendants=descendants,
        query=op.query,
        filter=op.filter,
        limit=int(op.limit),
        offset=int(op.offset),
        refresh_ttl=settings.refresh_on_read if refresh is None else bool(refresh),
    )
