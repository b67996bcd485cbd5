"""Ranking a search over a set of namespaces: vectors, keywords or both, then filters and paging.

Exact cosine over each namespace's cached matrix (int8-narrowed in large namespaces, see
``quantized``; or candidates from an HNSW graph rescored exactly, see ``ann``) and BM25 over its
cached inverted index (see ``keyword``), fused with the memories' episode context (see
``hybrid`` and ``reverie.retrieval.fusion``); scores are cosines. Filters (and ``min_score``)
are applied to the ranked candidates, widening to the whole namespace when a selective filter
needs it; items with nothing to rank by come last, in store order.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from langgraph.store.base import SearchOp

from reverie.core.indexing import EpisodeFields, RankingOptions
from reverie.core.ports import NamespaceSearch
from reverie.core.requests import never_written
from reverie.retrieval.query_text import query_terms, shared_share, vector_text
from reverie.stores.embedded.ann import MAX_CANDIDATES, recall_at
from reverie.stores.embedded.cache import NamespaceCache, NamespaceEntry
from reverie.stores.embedded.database import StoreFile
from reverie.stores.embedded.filters import matches_filter
from reverie.stores.embedded.hybrid import Scored, diversified, hybrid_ranking
from reverie.stores.embedded.items import ItemReader
from reverie.stores.embedded.namespaces import Namespaces, Versioned
from reverie.stores.embedded.ranking import ORDER_SHIFT, SearchMode, top_positions
from reverie.stores.embedded.rows import Row
from reverie.stores.embedded.vectors import FloatArray

Ranked = list[tuple[int, float | None]]  # (item id, score), best first
# Rows from which each of a few namespaces is worth its own thread: two namespaces of 5,000 rows
# took 0.50 ms that way against 0.40 ms one after the other on this thread, 12,000 about even.
NAMESPACE_THREAD_MIN_ROWS = 16_384
Hit = tuple[Row, float | None]  # a found item and its score (None: not ranked)


@dataclass(frozen=True)
class AlsoRanked:
    """A namespace ranked in the same pool as a request's own, under its own filter
    (``NamespaceSearch.also``); ``found`` is empty when it does not exist."""

    namespace: tuple[str, ...]
    found: list[Versioned]
    filter: dict[str, Any] | None


@dataclass(frozen=True)
class SearchRequest:
    """One search, its namespaces already resolved (from a ``SearchOp`` prefix or a
    ``NamespaceSearch``)."""

    namespaces: list[Versioned]
    query: str | None
    filter: dict[str, Any] | None
    limit: int
    offset: int
    min_score: float | None = None
    diversity: float = 0.0
    ranking: RankingOptions | None = None
    also: tuple[AlsoRanked, ...] = ()

    def scopes(self) -> list[tuple[list[Versioned], dict[str, Any] | None]]:
        """Each group of namespaces with the filter that applies to it (an ``also`` namespace
        under its own, even where the request's own namespaces include it)."""
        if not self.also:
            return [(self.namespaces, self.filter)]
        taken = {n for a in self.also for n in a.found}
        own = [n for n in self.namespaces if n not in taken]
        return [(own, self.filter)] + [(a.found, a.filter) for a in self.also]

    def filter_of(self, namespace: tuple[str, ...]) -> dict[str, Any] | None:
        for also in self.also:
            if also.namespace == namespace:
                return also.filter
        return self.filter


def search_request(op: SearchOp | NamespaceSearch, namespaces: Namespaces) -> SearchRequest:
    """``op`` with its namespaces resolved (callers hold a transaction)."""
    if isinstance(op, SearchOp):
        found = namespaces.under(op.namespace_prefix)
        return SearchRequest(found, op.query, op.filter, op.limit, op.offset)
    found = namespaces.under(op.namespace) if op.descendants else namespaces.exactly(op.namespace)
    return SearchRequest(
        found,
        op.query,
        op.filter,
        op.limit,
        op.offset,
        min_score=op.min_score,
        diversity=op.diversity,
        ranking=op.ranking,
        also=tuple(
            AlsoRanked(tuple(a.namespace), _exactly(a.namespace, namespaces), a.filter)
            for a in op.also
        ),
    )


def _exactly(namespace: tuple[str, ...], namespaces: Namespaces) -> list[Versioned]:
    """``namespace`` itself, or ``[]``: also when no write could have made it (SQLite cannot
    even encode a lone surrogate), as a search of it alone finds nothing."""
    return [] if never_written(namespace, None) else namespaces.exactly(namespace)


class Searcher:
    """Searches on ``db``'s namespaces through ``cache``; callers hold a read transaction.

    ``ranks_queries`` is False for a store without an index (queries are ignored, as in
    ``InMemoryStore``). ``mode`` may be changed between searches.
    """

    def __init__(
        self,
        db: StoreFile,
        reader: ItemReader,
        cache: NamespaceCache,
        *,
        ranks_queries: bool,
        mode: SearchMode,
        ann_threshold: int | None,
        episodes: EpisodeFields | None = None,
        ranking: RankingOptions | None = None,
    ) -> None:
        self.episodes = episodes or EpisodeFields()
        self.ranking = ranking or RankingOptions()
        self.db = db
        self.reader = reader
        self.cache = cache
        self.ranks_queries = ranks_queries
        self.mode: SearchMode = mode
        self.ann_threshold = ann_threshold
        # Threads for splitting one large similarity product across cores (see ``vectors``).
        self.workers = max(1, min(4, os.cpu_count() or 1))
        self.pool = (
            ThreadPoolExecutor(self.workers, thread_name_prefix="reverie-search")
            if self.workers > 1
            else None
        )

    def share_for(self, rankings: list[RankingOptions | None]) -> float | None:
        """The ``common_word_share`` for searches of one query with these rankings (None: the
        store's), or None when the query is embedded whole (``reverie.retrieval.query_text``)."""
        if self.mode != "hybrid":
            return None
        return shared_share((r or self.ranking).vector_share for r in rankings)

    def vector_text(self, query: str, requests: list[SearchRequest], share: float) -> str:
        """The text embedded for ``query``, which ``requests`` search: without the words found
        in at least ``share`` of their memories (``reverie.retrieval.query_text``)."""
        wanted = query_terms(query)
        if not wanted:
            return query
        frequency: Counter[str] = Counter()
        memories = 0
        searched = {n for r in requests for found, _ in r.scopes() for n in found}
        for namespace in searched:
            index = self.entry(namespace).keyword_index(self.db.conn)
            memories += index.live_docs
            frequency.update(index.frequencies(wanted))
        return vector_text(query, frequency, memories, share)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)

    def search(
        self, request: SearchRequest, query_vector: FloatArray | None, now: float
    ) -> list[Hit]:
        """The page ``request`` asks for, best first with a query, else in store order."""
        scopes = request.scopes()
        namespaces = [n for found, _ in scopes for n in found]
        if request.limit <= 0 or not namespaces:
            return []
        wanted = request.offset + request.limit
        kept: list[Hit] = []
        if request.query and self.ranks_queries:
            options = request.ranking or self.ranking
            pool: int | None = max(4 * wanted, options.pool)
            while True:
                ranked, complete = self._rank(
                    request.query, query_vector, namespaces, pool, options
                )
                if request.min_score is not None and not complete:
                    complete = _all_above(ranked, request.min_score, pool)
                if request.diversity:
                    entries = [self.entry(n) for n in namespaces]
                    ranked = diversified(ranked, entries, request.diversity, wanted)
                kept = self._take(ranked, request, wanted, now)
                if len(kept) >= wanted or complete:
                    break
                pool = None  # a selective filter ate the pool: rank everything
            if len(kept) < wanted and request.min_score is None:
                # Items with nothing to rank by (e.g. stored with index=False) come last, in
                # store order, as in InMemoryStore.
                seen = {item_id for item_id, _ in ranked}
                for row in self._scan(scopes, now, exclude=seen):
                    kept.append((row, None))
                    if len(kept) >= wanted:
                        break
        else:
            # Store order: the rows before the page are passed over, not read as items.
            for row in self._scan(scopes, now, skip=request.offset):
                kept.append((row, None))
                if len(kept) >= request.limit:
                    break
            return kept
        return kept[request.offset : wanted]

    def _scan(
        self,
        scopes: list[tuple[list[Versioned], dict[str, Any] | None]],
        now: float,
        exclude: set[int] | None = None,
        skip: int = 0,
    ) -> Iterator[Row]:
        for found, filter in scopes:
            skip = yield from self.reader.scan([n for n, _ in found], now, filter, exclude, skip)

    def entry(self, namespace: Versioned) -> NamespaceEntry:
        """The namespace's cached search structures, reloaded if another process wrote."""
        return self.cache.get(self.db.conn, *namespace)

    def _take(self, ranked: Ranked, request: SearchRequest, wanted: int, now: float) -> list[Hit]:
        min_score = request.min_score
        if min_score is not None:
            ranked = [(i, s) for i, s in ranked if s is not None and s >= min_score]
        kept: list[Hit] = []
        filtered = request.filter is not None or any(a.filter is not None for a in request.also)
        # Without a filter nearly every ranked row is kept: read only what the page needs.
        step = max(wanted, 32) if filtered else wanted
        searched = {ns_id for found, _ in request.scopes() for ns_id, _ in found}
        for start in range(0, len(ranked), step):
            chunk = ranked[start : start + step]
            found = self.reader.raw_rows([i for i, _ in chunk], now, searched)
            for item_id, score in chunk:
                raw = found.get(item_id)
                if raw is None:
                    continue
                row = Row.from_sql(raw)
                filter = request.filter_of(row.namespace) if request.also else request.filter
                if matches_filter(row.value, filter):
                    kept.append((row, score))
                    if len(kept) >= wanted:
                        return kept
        return kept

    def _rank(
        self,
        query: str,
        query_vector: FloatArray | None,
        namespaces: list[Versioned],
        pool: int | None,
        options: RankingOptions,
    ) -> tuple[Ranked, bool]:
        """Best-first (item id, score) and whether every scoreable item is in the list."""
        entries = [self.entry(n) for n in namespaces]
        vector: Scored = (np.empty(0, np.int64), np.empty(0, np.float32))
        vector_complete = True
        if self.mode != "keyword" and query_vector is not None:
            parts, partial = self._vector_scores(entries, query_vector, pool)
            vector, vector_complete = _merge(parts, pool)
            # Candidates are a subset: never let them pass for the whole namespace, so a
            # filter that leaves too few of them widens to ranking everything.
            vector_complete = vector_complete and not partial
        if self.mode == "vector":
            return _pairs(vector), vector_complete
        hits, keyword_complete = _merge(
            [e.keyword_index(self.db.conn).scores(query) for e in entries], pool
        )
        if self.mode == "keyword":
            return _pairs(hits), keyword_complete
        fused = hybrid_ranking(
            self.db.conn, entries, self.episodes, query, query_vector, vector, hits, options
        )
        return fused, vector_complete and keyword_complete

    def _vector_scores(
        self, entries: list[NamespaceEntry], query_vector: FloatArray, pool: int | None
    ) -> tuple[list[tuple[Any, Any]], bool]:
        """Per-namespace (ids, exact cosines), and whether any namespace gave only a subset of its
        items (graph candidates, or the int8-narrowed candidates of a top-``pool`` search)."""
        entries = [e for e in entries if e.vectors.size]
        if (
            pool is not None
            and self.pool is not None
            and 1 < len(entries) <= self.workers
            and min(e.vectors.size for e in entries) >= NAMESPACE_THREAD_MIN_ROWS
            and not self.ann_threshold
        ):
            # A few large namespaces: one per thread, each whole, rather than each split across
            # threads in turn (one hand-off instead of one per namespace). Many small ones (a
            # prefix search over users) stay on this thread: a hand-off would cost more.
            futures = [
                self.pool.submit(self._top_of, e, query_vector, pool, None, 1) for e in entries[1:]
            ]
            found = [self._top_of(entries[0], query_vector, pool, None, 1)]
            found += [f.result() for f in futures]
        else:
            found = [self._top_of(e, query_vector, pool, self.pool, self.workers) for e in entries]
        return [f[0] for f in found], any(f[1] for f in found)

    def _top_of(
        self,
        entry: NamespaceEntry,
        query_vector: FloatArray,
        pool: int | None,
        executor: ThreadPoolExecutor | None,
        workers: int,
    ) -> tuple[tuple[Any, Any], bool]:
        """One namespace's (ids, exact cosines), and whether they are only a subset."""
        if pool is None:
            return entry.vectors.scores(query_vector, executor, workers), False
        graph = self.cache.graph(entry) if pool <= MAX_CANDIDATES and self.ann_threshold else None
        found = None
        if graph is not None:
            found = entry.vectors.scores_at(graph.candidates(query_vector, pool), query_vector)
            if not entry.graph.audit_due():
                return found, True
        # Exact top ``pool`` (int8-narrowed in large namespaces); it also audits the graph now
        # and then, and answers that search exactly.
        ids, scores, whole = entry.vectors.top_scores(query_vector, pool, executor, workers)
        if found is not None:
            entry.graph.audited(recall_at(found, (ids, scores)))
        return (ids, scores), not whole


def _all_above(ranked: Ranked, min_score: float, pool: int | None) -> bool:
    """Whether every item scoring ``min_score`` or more is already ranked: the ranking holds
    the ``pool`` best cosines, so it does once the lowest of those is below the threshold."""
    scores = sorted((s for _, s in ranked if s is not None), reverse=True)
    return pool is not None and len(scores) >= pool and scores[pool - 1] < min_score


def _merge(parts: list[tuple[Any, Any]], pool: int | None) -> tuple[Scored, bool]:
    """Merge per-namespace (ids, scores) into one best-first (ids, scores) of at most ``pool``,
    and whether it holds every scored item."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return (np.empty(0, np.int64), np.empty(0, np.float32)), True
    count = sum(len(p[0]) for p in parts)
    if len(parts) == 1:
        ids, scores = parts[0]
        tiebreak = ids
    else:
        if pool is not None:
            # Each namespace's best ``pool`` first (ties with the last kept): the best ``pool``
            # overall are among them, and long keyword lists are not copied whole.
            tops = [top_positions(p[1], p[0], pool) for p in parts]
            parts = [(p[0][top], p[1][top]) for p, top in zip(parts, tops, strict=True)]
        ids = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        # Store order across namespaces: namespace position first, then item id, as one key
        # (sorting a keyword list of thousands twice cost more than ranking it).
        owner = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p[0]) for p in parts])
        tiebreak = (owner << ORDER_SHIFT) | ids
    positions = top_positions(scores, tiebreak, pool)
    complete = pool is None or len(positions) >= count
    return (ids[positions], scores[positions]), complete


def _pairs(scored: Scored) -> Ranked:
    ids, scores = scored
    return list(zip(ids.tolist(), scores.tolist(), strict=True))
