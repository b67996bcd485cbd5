"""The one namespace-scoped search behind every reader: the manager, the search tool, the
executors' ``search``, the CLI and the MCP server.

It searches exactly the namespace it is given; memories in namespaces below it (another
tenant's ``("memories", "alice", "team")`` under ``("memories", "alice")``) are included only
when the caller asks for ``descendants`` by name. Reverie's bookkeeping namespaces are never
returned by a search of user namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph.store.base import SearchItem

from reverie.core.effects import Pipeline, Search
from reverie.core.errors import InputError
from reverie.core.indexing import RankingOptions
from reverie.core.namespace import RESERVED_ROOT
from reverie.core.ports import MemoryStorePort, NamespaceSearch, check_search_options
from reverie.ledger.retention import refresh_time_records

if TYPE_CHECKING:  # rerankers build on LangChain's model classes, which a listing never needs
    from reverie.retrieval.rerank import Reranker

RERANK_DEPTH = 20  # candidates a reranker reads: enough to lift a buried hit, few for a model


@dataclass(frozen=True)
class SearchOptions:
    """How a query search ranks and what it keeps, beyond LangGraph's arguments.

    ``min_score``: leave out items whose cosine similarity to the query is below it.
    ``diversity`` (0-1, 0: off): reorder the best candidates by maximal marginal relevance.
    ``ranking``: the store's ranking weights for this search (``RankingOptions``).
    ``rerank``: a :class:`~reverie.retrieval.rerank.Reranker` applied to the best
    ``rerank_depth`` candidates (the page, if deeper). Reverie's stores honour all of them;
    other LangGraph stores honour ``min_score`` and ``rerank``. A search ``as_of`` a past
    moment applies ``min_score`` and ``rerank`` only (see ``reverie.ledger.time_search``).

    Options out of range raise ``InputError`` here, when the application sets them, rather
    than at its first search.
    """

    min_score: float | None = None
    diversity: float = 0.0
    ranking: RankingOptions | None = None
    rerank: Reranker | None = None
    rerank_depth: int = RERANK_DEPTH

    def __post_init__(self) -> None:
        check_search_options(
            NamespaceSearch(
                (), min_score=self.min_score, diversity=self.diversity, ranking=self.ranking
            )
        )
        depth = self.rerank_depth
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise InputError(
                f"rerank_depth is how many of the best candidates a reranker reads, a whole number "
                f"of at least 1, got {depth!r}; leave it out for {RERANK_DEPTH}."
            )


def search_memories(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    *,
    query: str | None = None,
    filter: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    descendants: bool = False,
    refresh_ttl: bool | None = None,
    options: SearchOptions | None = None,
) -> Pipeline[list[SearchItem]]:
    """Memories of ``namespace`` (and, with ``descendants``, of every namespace below it);
    ``refresh_ttl`` as LangGraph's (None: the store's default); ``options``: see
    :class:`SearchOptions`."""
    options = options or SearchOptions()
    rerank, rerank_depth = options.rerank, options.rerank_depth
    reranking = rerank is not None and bool(query)
    wanted = offset + limit
    request = NamespaceSearch(
        tuple(namespace),
        query=query,
        filter=filter,
        limit=max(wanted, rerank_depth) if reranking else limit,
        offset=0 if reranking else offset,
        descendants=descendants,
        refresh_ttl=refresh_ttl,
        min_score=options.min_score,
        diversity=options.diversity,
        ranking=options.ranking,
    )
    items = visible(namespace, descendants, (yield from Search(port, request)))
    yield from refresh_time_records(port, items, refresh_ttl)
    if reranking:
        assert rerank is not None and query
        depth = max(wanted, rerank_depth)
        items = (yield from rerank.rerank(query, items[:depth])) + items[depth:]
        items = items[offset:wanted]
    return items


def every_item(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    *,
    filter: dict[str, Any] | None = None,
    descendants: bool = False,
    page: int = 500,
    refresh_ttl: bool | None = False,
) -> Pipeline[list[SearchItem]]:
    """Every item of ``namespace`` (matching ``filter``), read ``page`` at a time: the
    bookkeeping readers (usage, history, erasure) need all of a namespace, not one page."""
    found: list[SearchItem] = []
    while True:
        batch = yield from Search(
            port,
            NamespaceSearch(
                namespace,
                filter=filter,
                limit=page,
                offset=len(found),
                descendants=descendants,
                refresh_ttl=refresh_ttl,
            ),
        )
        found.extend(batch)
        if len(batch) < page:
            return found


def visible(
    namespace: tuple[str, ...], descendants: bool, items: list[SearchItem]
) -> list[SearchItem]:
    """``items`` found searching ``namespace``, less Reverie's bookkeeping namespaces: a search
    with ``descendants`` from the root would otherwise reach every user's audit trail."""
    if descendants and (not namespace or namespace[0] != RESERVED_ROOT):
        return [i for i in items if not i.namespace or i.namespace[0] != RESERVED_ROOT]
    return items
