"""``EmbeddedStore``: a LangGraph ``BaseStore`` on one local SQLite file with hybrid search, and a
native implementation of Reverie's storage port (``commit``, ``NamespaceSearch``).

Design, briefly (each collaborator has its own module):

- ``database``: the file in WAL mode, readers never block the writer and several processes may
  open it. Every ``batch`` that writes, and every ``commit``, is one ``BEGIN IMMEDIATE``
  transaction: a crash leaves all of it or none, and writers queue on SQLite's lock
  (``busy_timeout``) instead of failing half-way; one that waits too long gets
  :class:`StoreLockedError`.
- ``planning`` and ``embedding``: operations are checked, and texts and queries embedded,
  before any lock is taken, so a slow model never blocks other writers.
- Reads and writes of one batch follow ``InMemoryStore``: gets, searches and listings see the
  state before the batch's puts; several puts to one key keep the last.
- ``search``: vector + keyword ranking over per-namespace caches (``cache``), filters, paging.
- ``writer``: puts, deletes, vectors, namespace counters, cache patches, checked commits.
- ``ttl`` and ``sweeper``: expiry, refresh on read, sweeping (also on a background thread).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
)

from reverie.core.errors import ConfigurationError
from reverie.core.indexing import EpisodeFields, RankingOptions, ReverieIndexConfig, default_fields
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.core.ports import (
    CommitResult,
    Expectation,
    NamespaceSearch,
    NamespaceTally,
    NativeStore,
    PortOp,
    Write,
    tallies_of,
)
from reverie.stores.embedded.ann import BackgroundBuilder, usearch_index
from reverie.stores.embedded.cache import NamespaceCache
from reverie.stores.embedded.database import StoreFile
from reverie.stores.embedded.embedding import Embedded, Embedder
from reverie.stores.embedded.items import ItemReader
from reverie.stores.embedded.namespaces import Namespaces
from reverie.stores.embedded.planning import Planner, index_fields
from reverie.stores.embedded.ranking import SEARCH_MODES, SearchMode
from reverie.stores.embedded.rows import FindsNothing, Plan, Row
from reverie.stores.embedded.search import Searcher, SearchRequest, search_request
from reverie.stores.embedded.sweeper import Sweeper
from reverie.stores.embedded.ttl import Expiry
from reverie.stores.embedded.vectors import FloatArray
from reverie.stores.embedded.writer import Applied, Writer


class EmbeddedStore(NativeStore):
    """A persistent LangGraph store in one SQLite file, with hybrid vector + keyword search.

    Args:
        path: The store file (created with its parent folders if missing).
        index: LangGraph index config (``dims``, ``embed``, optional ``fields``), plus Reverie's
            ``keyword_fields`` (what keyword search sees; default ``fields``) and
            ``episode_fields`` (see ``reverie.EpisodeFields``). Without it the store is a plain
            key-value store and ``query`` is ignored, as in ``InMemoryStore``.
        ttl: LangGraph TTL config (``default_ttl`` minutes, ``refresh_on_read``,
            ``sweep_interval_minutes``). Expired items are never returned.
        search_mode: ``"hybrid"`` (default), ``"vector"`` or ``"keyword"``.
        busy_timeout: Seconds a writer waits for another process's write lock.
        cache_bytes: Upper bound for the in-process vector cache.
        ann_threshold: Namespaces with at least this many vectors are searched through an
            approximate nearest-neighbour graph (HNSW) whose candidates are rescored exactly;
            ``None`` or 0 (default) always ranks exactly. The graph of a large namespace is
            built in a background thread, and searches rank exactly until it is ready.
        ranking: How hybrid search weighs its signals (``reverie.RankingOptions``; a search may
            override it through ``NamespaceSearch.ranking``).
        limits: The store-level limits (namespace labels and depth, keys, search queries,
            filters, limit and offset; ``reverie.core.limits``), the same as PostgreSQL's.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        index: IndexConfig | ReverieIndexConfig | None = None,
        ttl: TTLConfig | None = None,
        search_mode: SearchMode = "hybrid",
        busy_timeout: float = 5.0,
        cache_bytes: int = 1 << 30,
        ann_threshold: int | None = None,
        ranking: RankingOptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        _check_search_mode(search_mode)
        self.path = Path(path).expanduser()
        self.ttl_config = ttl
        self.index_config: IndexConfig | None = None
        self.embeddings: Embeddings | None = None
        self.dims = 0
        fields = keyword_fields = None
        episodes = EpisodeFields()
        if index:
            if not index.get("dims") or not index.get("embed"):
                raise ConfigurationError(
                    "An index config needs 'dims' (vector size) and 'embed' (an Embeddings "
                    "object, a function, or a 'provider:model' string)."
                )
            self.index_config = cast(IndexConfig, dict(index))
            self.embeddings = ensure_embeddings(index["embed"])
            self.dims = int(index["dims"])
            fields = index_fields(index.get("fields"))
            config = cast(ReverieIndexConfig, index)
            if "keyword_fields" in config:
                chosen = config["keyword_fields"]
                keyword_fields = index_fields(chosen) if chosen else []
            episodes = EpisodeFields.from_config(config.get("episode_fields"))
        if ranking is not None and not isinstance(ranking, RankingOptions):
            raise ConfigurationError("ranking must be a reverie.RankingOptions.")
        if ann_threshold is not None and ann_threshold < 0:
            raise ConfigurationError(
                f"ann_threshold must be a vector count >= 0 (0 or None: exact search only); "
                f"got {ann_threshold!r}."
            )
        self.ann_threshold = ann_threshold or None
        if self.ann_threshold:
            usearch_index()  # fail now, not at the first large search, if it is missing
        self._builder = BackgroundBuilder("reverie-ann") if self.ann_threshold else None
        self._db = StoreFile(self.path, busy_timeout)
        if self.embeddings is not None:
            self._db.check_dims(self.dims)
        self._cache = NamespaceCache(self.dims, cache_bytes, self.ann_threshold, self._builder)
        self.limits = limits or DEFAULT_LIMITS
        self._planner = Planner(fields, self.limits, keyword_fields, episodes)
        self._embedder = Embedder(self.embeddings, self.dims)
        self._namespaces = Namespaces(self._db)
        self._reader = ItemReader(self._db, self._namespaces)
        self._expiry = Expiry(self._db, self._cache, ttl)
        self._searcher = Searcher(
            self._db,
            self._reader,
            self._cache,
            ranks_queries=self.embeddings is not None,
            mode=search_mode,
            ann_threshold=self.ann_threshold,
            episodes=episodes,
            ranking=ranking,
        )
        self._writer = Writer(
            self._db, self._namespaces, self._reader, self._cache, self._expiry, self.dims
        )
        self._sweeper = Sweeper(self._expiry.sweep_now)

    @property
    def search_mode(self) -> SearchMode:
        """How queries rank: ``"hybrid"``, ``"vector"`` or ``"keyword"`` (may be changed)."""
        return self._searcher.mode

    @search_mode.setter
    def search_mode(self, mode: SearchMode) -> None:
        _check_search_mode(mode)
        self._searcher.mode = mode

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Stop the TTL sweeper and close the file. Further use raises :class:`StoreError`."""
        self._sweeper.stop()
        with self._db.lock:
            if self._db.close():
                self._cache.clear()
                self._searcher.close()
                if self._builder is not None:
                    self._builder.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddedStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r}, search_mode={self.search_mode!r})"

    # ----------------------------------------------------------------- batches

    def batch(self, ops: Iterable[PortOp]) -> list[Result]:
        plan = self._plan(ops)
        if plan.queries:
            plan = self._with_vector_texts(plan)
        return self._execute(plan, self._embedder.embed(plan))

    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]:
        plan = self._plan(ops)
        if plan.queries:  # reads the keyword indexes: off the event loop
            plan = await asyncio.to_thread(self._with_vector_texts, plan)
        embedded = await self._embedder.aembed(plan)
        return await asyncio.to_thread(self._execute, plan, embedded)

    def _plan(self, ops: Iterable[PortOp]) -> Plan:
        embed_queries = self.embeddings is not None and self.search_mode != "keyword"
        return self._planner.plan(ops, embed_queries=embed_queries)

    def _with_vector_texts(self, plan: Plan) -> Plan:
        """``plan`` with the text to embed for each query: the query less the words most of the
        memories it searches share (``reverie.retrieval.query_text``); the searches of one
        query in a batch share one vector, so their scores stay comparable."""
        searched: dict[str, list[SearchOp | NamespaceSearch]] = {}
        for op in plan.ops:
            if isinstance(op, (SearchOp, NamespaceSearch)) and op.query:
                searched.setdefault(op.query, []).append(op)
        # Decided from the ops alone, so a search that embeds its query whole (vector mode or
        # ranking, common_word_share=None) reads nothing more.
        shares = {
            query: self._searcher.share_for(
                [op.ranking if isinstance(op, NamespaceSearch) else None for op in ops]
            )
            for query, ops in searched.items()
        }
        if all(share is None for share in shares.values()):
            return plan
        with self._db.transaction(write=False):
            for query, ops in searched.items():
                share = shares[query]
                if share is None:
                    continue
                requests = [self._request(op) for op in ops]
                text = self._searcher.vector_text(query, requests, share)
                if text != query:
                    plan.vector_texts[query] = text
        if plan.vector_texts:
            plan.queries = list(dict.fromkeys(plan.vector_text(q) for q in plan.queries))
        return plan

    def _execute(self, plan: Plan, embedded: Embedded) -> list[Result]:
        """Run a planned batch: reads first (they see the state before its puts), then the
        puts, in one transaction; caches are patched and lifetimes refreshed after it."""
        refresh: set[int] = set()
        applied: Applied | None = None
        with self._db.session():
            with self._db.transaction(write=bool(plan.puts)):
                now = time.time()
                gets = [(tuple(op.namespace), op.key) for op in plan.ops if isinstance(op, GetOp)]
                rows = self._reader.get_many(gets, now) if len(gets) > 1 else None
                results = [
                    self._read(op, embedded, now, refresh, rows, plan.vector_text(op_query(op)))
                    for op in plan.ops
                ]
                if plan.puts:
                    applied = self._writer.apply(plan, embedded.by_text, now)
                    self._expiry.refresh(refresh, now)
            if applied is not None:
                self._writer.publish(applied)
            elif refresh:
                self._expiry.refresh_after_read(refresh, now)
        return results

    def _read(
        self,
        op: PortOp | FindsNothing,
        embedded: Embedded,
        now: float,
        refresh: set[int],
        rows: dict[tuple[tuple[str, ...], str], Row] | None = None,
        vector_text: str = "",
    ) -> Result:
        if isinstance(op, FindsNothing):
            return op.result
        if isinstance(op, GetOp):
            if rows is not None:  # several gets in one batch were read together
                row = rows.get((tuple(op.namespace), op.key))
            else:
                row = self._reader.get(op.namespace, op.key, now)
            if row is None:
                return None
            if op.refresh_ttl and row.ttl_minutes is not None:
                refresh.add(row.id)
            return row.item()
        if isinstance(op, SearchOp):
            query_vector = embedded.queries.get(vector_text)
            return self._search(op, query_vector, now, refresh if op.refresh_ttl else None)
        if isinstance(op, NamespaceSearch):
            refreshes = self._expiry.refresh_on_read if op.refresh_ttl is None else op.refresh_ttl
            query_vector = embedded.queries.get(vector_text)
            return self._search(op, query_vector, now, refresh if refreshes else None)
        if isinstance(op, ListNamespacesOp):
            return self._namespaces.listing(op, now)
        return None  # a put: written after the reads

    def _request(self, op: SearchOp | NamespaceSearch) -> SearchRequest:
        return search_request(op, self._namespaces)

    def _search(
        self,
        op: SearchOp | NamespaceSearch,
        query_vector: FloatArray | None,
        now: float,
        refresh: set[int] | None,
    ) -> list[SearchItem]:
        hits = self._searcher.search(self._request(op), query_vector, now)
        if refresh is not None:
            refresh.update(row.id for row, _ in hits if row.ttl_minutes is not None)
        return [row.search_item(score) for row, score in hits]

    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        """See :meth:`MemoryStorePort.tally`: one grouped query, no value decoded in Python."""
        with self._db.session(), self._db.transaction(write=False):
            rows = self._reader.tally(namespaces, time.time())
        return tallies_of(namespaces, rows)

    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return await asyncio.to_thread(self.tally, namespaces)

    def default_index_fields(self) -> list[str] | None:
        return default_fields(self.index_config)

    # ----------------------------------------------------------------- commits

    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        """Embed the writes' texts, then in one ``BEGIN IMMEDIATE`` transaction check every
        expectation and apply every write, or write nothing if any expectation fails."""
        expected = tuple(expected)
        plan = self._planner.plan_commit(expected, writes)
        embedded = self._embedder.embed(plan)
        return self._writer.commit(expected, plan, embedded.by_text)

    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult:
        """The async twin of :meth:`commit`: embeds with the model's async API, then runs the
        transaction on a worker thread."""
        expected = tuple(expected)
        plan = self._planner.plan_commit(expected, writes)
        embedded = await self._embedder.aembed(plan)
        return await asyncio.to_thread(self._writer.commit, expected, plan, embedded.by_text)

    # ----------------------------------------------------------------- TTL

    def sweep_ttl(self) -> int:
        """Delete every expired item now; returns how many were removed."""
        return self._expiry.sweep_now()

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> Future[None]:
        """Delete expired items every ``sweep_interval_minutes`` (default: the TTL config's
        ``sweep_interval_minutes``, else 5) on a daemon thread, as LangGraph's
        ``PostgresStore`` does. Without a TTL config nothing is started (the future is already
        done). The future completes when the sweeper stops; cancelling it stops the sweeper."""
        if not self.ttl_config:
            done: Future[None] = Future()
            done.set_result(None)
            return done
        if sweep_interval_minutes is not None and sweep_interval_minutes < 0:
            raise ConfigurationError(
                f"sweep_interval_minutes must be a positive number of minutes; got "
                f"{sweep_interval_minutes!r}."
            )
        with self._db.session():  # refuses a closed store
            return self._sweeper.start(sweep_interval_minutes or self._expiry.sweep_minutes)

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper; True if it stopped within ``timeout`` seconds (or was not running)."""
        return self._sweeper.stop(timeout)


def _check_search_mode(mode: str) -> None:
    if mode not in SEARCH_MODES:
        raise ConfigurationError(
            f"search_mode must be one of {', '.join(SEARCH_MODES)}; got {mode!r}."
        )


def op_query(op: PortOp | FindsNothing) -> str | None:
    """A search's query (None for other operations)."""
    return op.query if isinstance(op, (SearchOp, NamespaceSearch)) else None
