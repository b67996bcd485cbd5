"""Searching one namespace (or a prefix of namespaces), with or without a query.

Vector search stays correct inside one namespace of a large table. pgvector's HNSW index filters
*after* walking the graph: with the default ``hnsw.ef_search`` of 40 it hands back at most 40
nearest rows of the whole table, and the namespace filter then keeps only those in the
namespace searched. For a small namespace in a big table that is usually nothing at all. Two
remedies, chosen per search:

- a namespace of at most ``exact_below`` items (default 2,000) is searched exactly: every vector
  in it is compared with the query, found through the namespace's B-tree index, in one
  statement that also appends the items without vectors. This is also the fastest plan for
  small namespaces.
- larger namespaces (and searches over every namespace) use the HNSW index with pgvector's
  iterative scan (pgvector 0.8+), which keeps walking the graph until enough rows pass the
  filter, in strict distance order. Connections opened by Reverie carry these settings for the
  session; other connections get them per search, in the batch's transaction.

Results otherwise follow LangGraph's InMemoryStore: items without a vector come after the scored
ones (score ``None``), and listings without a query keep insertion order (an overwritten item
keeps its place) grouped by namespace, using the ``reverie_seq`` column.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import SearchItem

from reverie.core.indexing import RankingOptions
from reverie.stores.postgres import hybrid
from reverie.stores.postgres.filters import filter_clause
from reverie.stores.postgres.indexing import IndexSettings
from reverie.stores.postgres.namespaces import ALIVE, scope
from reverie.stores.postgres.rows import item_columns, refresh_ttl, to_search_item
from reverie.stores.postgres.steps import Plan, Row, Sql


@dataclass(frozen=True)
class SearchTuning:
    """How vector searches are planned; see the module docstring."""

    exact_below: int = 2_000
    """Namespaces holding at most this many items are searched exactly."""
    iterative_scan: bool = True
    """Use pgvector's iterative HNSW scan for larger namespaces (needs pgvector 0.8 or later)."""
    max_scan_tuples: int = 1_000_000
    """Upper bound on index entries one iterative scan may visit before giving up."""
    ef_search: int = 40
    """HNSW candidate list size (pgvector's default 40): higher finds more of the true nearest
    neighbours, more slowly. Raised automatically to cover ``limit + offset`` where the settings
    are applied per search."""


@dataclass(frozen=True)
class SearchRequest:
    """One search, whichever operation asked for it."""

    namespace: tuple[str, ...]
    descendants: bool
    query: str | None = None
    filter: Mapping[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    refresh_ttl: bool = False
    min_score: float | None = None
    diversity: float = 0.0
    ranking: RankingOptions | None = None

    @property
    def wanted(self) -> int:
        return self.offset + self.limit


class NamespaceSizes:
    """Remembers for a while whether a namespace is small enough for exact search.

    Saves one round trip per search. A stale answer is harmless: a namespace that grew past the
    limit is still searched exactly (correct, a little slower) until the entry expires.
    """

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._small: dict[tuple[tuple[str, ...], bool], tuple[bool, float]] = {}

    def get(self, request: SearchRequest) -> bool | None:
        entry = self._small.get((request.namespace, request.descendants))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, request: SearchRequest, small: bool) -> None:
        if len(self._small) >= self.max_entries:
            self._small.clear()  # rare; cheaper than tracking recency
        self._small[(request.namespace, request.descendants)] = (
            small,
            time.monotonic() + self.ttl_s,
        )


@dataclass(frozen=True)
class VectorSearch:
    """What a vector search needs besides the request: how vectors compare and are planned."""

    index: IndexSettings
    tuning: SearchTuning
    sizes: NamespaceSizes
    session_tuned: bool
    """Whether every pooled connection already carries :func:`session_settings`."""
    ranking: RankingOptions | None = None
    """Hybrid ranking (vector + keyword + episode context); None: vector similarity only
    (a database without the keyword tables)."""


def session_settings(tuning: SearchTuning) -> str:
    """pgvector settings applied once to every pooled connection, so that an approximate
    search costs no extra statement."""
    return (
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', false),"
        f" set_config('hnsw.max_scan_tuples', '{int(tuning.max_scan_tuples)}', false),"
        f" set_config('hnsw.ef_search', '{min(1000, max(1, int(tuning.ef_search)))}', false),"
        # A store's statements each take milliseconds; compiling one with JIT (which PostgreSQL
        # starts by estimated cost, e.g. for BM25 over a large namespace) takes 10-20 ms more.
        " set_config('jit', 'off', false)"
    )


def _transaction_settings(tuning: SearchTuning, wanted: int) -> Sql:
    ef_search = min(1000, max(tuning.ef_search, 2 * wanted + 1))
    return Sql(
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', true),"
        " set_config('hnsw.max_scan_tuples', %s, true),"
        " set_config('hnsw.ef_search', %s, true), set_config('jit', 'off', true)",
        [str(tuning.max_scan_tuples), str(ef_search)],
    )


def search(
    request: SearchRequest, vector: list[float] | None, vectors: VectorSearch | None
) -> Plan[list[SearchItem]]:
    """``request``'s page of items: scored by ``vector`` when given, else a listing."""
    if vector is None or vectors is None:
        rows = yield from _listing(request, request.offset, request.limit)
    elif vectors.ranking is not None and request.query:
        rows = yield from _hybrid_search(request, vector, vectors, vectors.ranking)
    else:
        rows = yield from _vector_search(request, vector, vectors)
    if request.refresh_ttl:
        yield from refresh_ttl(rows)
    return [to_search_item(row) for row in rows]


def _order(request: SearchRequest) -> str:
    if request.namespace and not request.descendants:
        return "store.reverie_seq"
    return "min(store.reverie_seq) OVER (PARTITION BY store.prefix), store.reverie_seq"


def _listing(
    request: SearchRequest, offset: int, limit: int, *, unindexed_only: bool = False
) -> Plan[list[Row]]:
    where, params = scope("store.prefix", request.namespace, request.descendants)
    filters, filter_params = filter_clause(request.filter)
    unindexed = (
        " AND NOT EXISTS (SELECT 1 FROM store_vectors AS nv "
        "WHERE nv.prefix = store.prefix AND nv.key = store.key)"
        if unindexed_only
        else ""
    )
    rows = yield from Sql(
        f"SELECT {item_columns()}, NULL::float8 AS score FROM store "
        f"WHERE {where} AND {ALIVE}{filters}{unindexed} "
        f"ORDER BY {_order(request)} LIMIT %s OFFSET %s",
        [*params, *filter_params, limit, offset],
    )
    return rows


def _vector_search(
    request: SearchRequest, vector: list[float], vectors: VectorSearch
) -> Plan[list[Row]]:
    small = yield from _is_small(request, vectors)
    if small:
        rows = yield from _exact(request, vector, vectors.index)
        return rows
    if vectors.tuning.iterative_scan and not vectors.session_tuned:
        yield from _transaction_settings(vectors.tuning, request.wanted)
    scored = yield from approximate(request, vector, vectors.index)
    rows = list(scored)
    if len(rows) < request.wanted:
        rows += yield from _listing(request, 0, request.wanted - len(rows), unindexed_only=True)
    return rows[request.offset : request.wanted]


def _hybrid_search(
    request: SearchRequest, vector: list[float], vectors: VectorSearch, default: RankingOptions
) -> Plan[list[Row]]:
    """The page of a hybrid search (see ``hybrid``); scores are cosines."""
    assert request.query
    options = request.ranking or default
    index = vectors.index
    pool = max(4 * request.wanted, options.pool)
    small = yield from _is_small(request, vectors)
    if small:
        nearest = yield from _exact_top(request, vector, index, pool)
    else:
        if vectors.tuning.iterative_scan and not vectors.session_tuned:
            yield from _transaction_settings(vectors.tuning, pool)
        deeper = dataclasses.replace(request, limit=pool, offset=0)
        nearest = yield from approximate(deeper, vector, index, keys_only=True)
    cosine = {(r["prefix"], r["key"]): float(r["score"]) for r in nearest}
    keyword = yield from hybrid.keyword_candidates(
        request.namespace, request.descendants, request.query, request.filter, pool
    )
    keys = list(dict.fromkeys([*cosine, *keyword]))
    context, near = yield from hybrid.pool_context(keys, index, request.filter)
    unscored = [k for k in [*keys, *((r["prefix"], r["key"]) for r in near)] if k not in cosine]
    cosine.update((yield from hybrid.cosines_of(unscored, vector, index)))
    ranked = hybrid.rank(request.query, cosine, keyword, [*context, *near], options)
    if request.min_score is not None:
        ranked = [k for k in ranked if k in cosine and cosine[k] >= request.min_score]
    if request.diversity:
        ranked = yield from hybrid.diversified(
            ranked, request.diversity, request.wanted, index.dims
        )
    rows = yield from _rows_of(ranked[: request.wanted], cosine)
    if len(rows) < request.wanted and request.min_score is None:
        rows += yield from _listing(request, 0, request.wanted - len(rows), unindexed_only=True)
    return rows[request.offset : request.wanted]


def _rows_of(keys: list[tuple[str, str]], scores: dict[tuple[str, str], float]) -> Plan[list[Row]]:
    """The live items of ``keys`` in that order, each with its score."""
    if not keys:
        return []
    found = yield from Sql(
        f"SELECT {item_columns()} FROM store JOIN unnest(%s::text[], %s::text[]) "
        "AS k(prefix, key) ON store.prefix = k.prefix AND store.key = k.key "
        f"WHERE {ALIVE}",
        [[p for p, _ in keys], [k for _, k in keys]],
    )
    by_key = {(r["prefix"], r["key"]): r for r in found}
    return [{**by_key[k], "score": scores.get(k)} for k in keys if k in by_key]


def _exact_top(
    request: SearchRequest, vector: list[float], index: IndexSettings, count: int
) -> Plan[list[Row]]:
    """(prefix, key, score) of the ``count`` most similar live items matching the filter."""
    best_where, best_params = _vectors_in(request)
    filters, filter_params = filter_clause(request.filter)
    distance = f"min(sv.embedding {index.operator} {index.query_vector()})"
    rows = yield from Sql(
        f"SELECT sv.prefix, sv.key, {index.similarity(distance)} AS score "
        "FROM store_vectors AS sv JOIN store ON store.prefix = sv.prefix AND store.key = sv.key "
        f"WHERE {best_where} AND {ALIVE}{filters} "
        "GROUP BY sv.prefix, sv.key, store.reverie_seq "
        f"ORDER BY {distance} ASC, store.reverie_seq LIMIT %s",
        [vector, *best_params, *filter_params, vector, count],
    )
    return rows


def _is_small(request: SearchRequest, vectors: VectorSearch) -> Plan[bool]:
    if not request.namespace:
        return False
    small = vectors.sizes.get(request)
    if small is None:
        cap = vectors.tuning.exact_below
        where, params = scope("store.prefix", request.namespace, request.descendants)
        (counted,) = yield from Sql(
            f"SELECT count(*) AS n FROM (SELECT 1 FROM store WHERE {where} LIMIT %s) AS s",
            [*params, cap + 1],
        )
        small = int(counted["n"]) <= cap
        vectors.sizes.put(request, small)
    return small


def _exact(request: SearchRequest, vector: list[float], index: IndexSettings) -> Plan[list[Row]]:
    """Every vector of the namespace compared (an aggregate, which no index can serve), the
    items without vectors after them, in one statement."""
    best_where, best_params = _vectors_in(request)
    where, params = scope("store.prefix", request.namespace, request.descendants)
    filters, filter_params = filter_clause(request.filter)
    rows = yield from Sql(
        f"SELECT {item_columns()}, {index.similarity('best.distance')} AS score "
        "FROM store LEFT JOIN ("
        f"SELECT sv.prefix, sv.key, min(sv.embedding {index.operator} {index.query_vector()}) "
        f"AS distance FROM store_vectors AS sv WHERE {best_where} GROUP BY sv.prefix, sv.key"
        ") AS best ON best.prefix = store.prefix AND best.key = store.key "
        f"WHERE {where} AND {ALIVE}{filters} "
        f"ORDER BY best.distance ASC NULLS LAST, {_order(request)} LIMIT %s OFFSET %s",
        [vector, *best_params, *params, *filter_params, request.limit, request.offset],
    )
    return rows


def _vectors_in(request: SearchRequest) -> tuple[str, list[Any]]:
    """The vectors of the namespaces searched, found through the vectors' primary key: the
    prefix-pattern index is on ``store``, so namespaces below are looked up there first."""
    if not request.descendants:
        return scope("sv.prefix", request.namespace, descendants=False)
    where, params = scope("s.prefix", request.namespace, descendants=True)
    return f"sv.prefix = ANY(ARRAY(SELECT DISTINCT s.prefix FROM store AS s WHERE {where}))", params


def approximate(
    request: SearchRequest, vector: list[float], index: IndexSettings, keys_only: bool = False
) -> Plan[list[Row]]:
    """The nearest items through the vector index, best first (one row per item; equal scores
    in insertion order, so pages do not overlap). ``keys_only``: prefix, key and score, without
    the values (a hybrid pool reads only the page's values)."""
    where, params = scope(
        "store.prefix" if request.descendants else "sv.prefix",
        request.namespace,
        request.descendants,
    )
    filters, filter_params = filter_clause(request.filter)
    distance = f"sv.embedding {index.operator} {index.query_vector()}"
    # Items may have several vectors (one per indexed field): fetch enough rows for `wanted`
    # distinct items, as LangGraph does.
    candidates = request.wanted * max(1, len(index.fields)) * 2 + 1
    outer = "best.prefix, best.key" if keys_only else item_columns("best")
    inner = "store.prefix, store.key" if keys_only else item_columns()
    rows = yield from Sql(
        f"SELECT {outer}, {index.similarity('best.distance')} AS score FROM ("
        "SELECT DISTINCT ON (near.prefix, near.key) near.* FROM ("
        f"SELECT {inner}, store.reverie_seq, {distance} AS distance "
        "FROM store_vectors AS sv JOIN store ON store.prefix = sv.prefix AND store.key = sv.key "
        f"WHERE {where} AND {ALIVE}{filters} ORDER BY {distance} LIMIT %s"
        ") AS near ORDER BY near.prefix, near.key, near.distance"
        ") AS best ORDER BY best.distance, best.reverie_seq LIMIT %s",
        [vector, *params, *filter_params, vector, candidates, request.wanted],
    )
    return rows
