"""The sync and async PostgreSQL stores: LangGraph ``BaseStore``s implementing Reverie's storage
port natively (``reverie.core.ports.NativeStore``).

Both only run plans (``batch.py``, ``commit.py``, ``schema.py``, ``ttl.py``) with their runner;
every decision is in the plans, written once. Build them with ``open_postgres_store`` /
``open_async_postgres_store``, which check the server, open the pool and run the migrations.

The pool re-validates a connection each time it is handed out, so after a server restart stale
connections are dropped and new ones made. An operation that was in flight when the connection
broke raises :class:`~reverie.core.errors.StoreError`; retrying it is the caller's decision.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from langgraph.store.base import Result, TTLConfig
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from reverie.core.errors import StoreError
from reverie.core.indexing import RankingOptions, default_fields
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.core.ports import (
    CommitResult,
    Expectation,
    NamespaceTally,
    NativeStore,
    PortOp,
    Write,
)
from reverie.stores.postgres.batch import run_batch
from reverie.stores.postgres.commit import run_commit
from reverie.stores.postgres.indexing import index_settings
from reverie.stores.postgres.keyword_backfill import backfill_keywords
from reverie.stores.postgres.runner import AsyncRunner, SyncRunner
from reverie.stores.postgres.schema import SchemaInfo, migrate
from reverie.stores.postgres.search import SearchTuning
from reverie.stores.postgres.settings import StoreSettings
from reverie.stores.postgres.tally import run_tally
from reverie.stores.postgres.ttl import TaskSweeper, ThreadSweeper, sweep, sweep_interval_s

T = TypeVar("T")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Configured(NativeStore):
    """What both stores hold: their configs as LangGraph's stores expose them, and the settings
    their plans run with."""

    supports_ttl = True

    def _configure(
        self,
        index: Mapping[str, Any] | None,
        ttl: TTLConfig | None,
        tuning: SearchTuning | None,
        session_tuned: bool,
        where: str,
        ranking: RankingOptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.index_config = dict(index) if index is not None else None
        self.ttl_config = ttl
        self.settings = StoreSettings(
            index=index_settings(index),
            ttl=ttl,
            tuning=tuning or SearchTuning(),
            session_tuned=session_tuned,
            ranking=ranking or RankingOptions(),
            limits=limits or DEFAULT_LIMITS,
        )
        self.embeddings = self.settings.index.embeddings if self.settings.index else None
        self.where = where

    def _set_up(self, schema: SchemaInfo) -> None:
        self.settings = dataclasses.replace(self.settings, schema=schema)

    def default_index_fields(self) -> list[str] | None:
        return default_fields(self.index_config)


class ReveriePostgresStore(_Configured):
    """PostgreSQL + pgvector store on a connection pool (``close()`` closes a pool it owns).

    ``index=None`` makes a key-value store without vectors (queries are ignored, as by
    ``InMemoryStore()``); ``ttl`` is LangGraph's ``TTLConfig``; ``limits`` the store-level
    limits (``reverie.core.limits``), the same as the embedded store's.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        *,
        index: Mapping[str, Any] | None = None,
        ttl: TTLConfig | None = None,
        tuning: SearchTuning | None = None,
        session_tuned: bool = False,
        where: str = "the configured server",
        owns_pool: bool = False,
        ranking: RankingOptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._configure(index, ttl, tuning, session_tuned, where, ranking, limits)
        self.pool = pool
        self._runner = SyncRunner(pool, self.embeddings, where)
        self._owns_pool = owns_pool
        self._sweeper = ThreadSweeper(self.sweep_ttl)

    def __repr__(self) -> str:
        return f"ReveriePostgresStore({self.where!r})"

    def setup(self) -> None:
        """Create or migrate the tables (idempotent; see ``schema.py``) and index for keyword
        search what was stored before it existed (once; see ``keyword_backfill.py``)."""
        self._set_up(self._runner.run(migrate(self.settings.index, self.where)))
        if self.settings.index is not None and self.settings.schema.has_keywords:
            self._runner.run(backfill_keywords(self.settings.index))

    # -- the storage port ----------------------------------------------------------------
    def batch(self, ops: Iterable[PortOp]) -> list[Result]:
        return self._runner.run(run_batch(list(ops), self.settings))

    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))

    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        return self._runner.run(run_commit(list(expected), list(writes), self.settings))

    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult:
        return await asyncio.to_thread(self.commit, list(expected), list(writes))

    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return self._runner.run(run_tally(list(namespaces)))

    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return await asyncio.to_thread(self.tally, list(namespaces))

    # -- TTL -------------------------------------------------------------------------------
    def sweep_ttl(self) -> int:
        """Delete expired items now; returns how many."""
        return self._runner.run(sweep())

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep every ``sweep_interval_minutes`` (default: the TTL config's, else 5) on a daemon
        thread. Without a TTL config nothing runs. Cancel the future or call
        :meth:`stop_ttl_sweeper` to stop."""
        if not self.ttl_config:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return self._sweeper.start(sweep_interval_s(self.ttl_config, sweep_interval_minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper; False if it did not stop within ``timeout`` seconds."""
        return self._sweeper.stop(timeout)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self.stop_ttl_sweeper(timeout=1)
        if self._owns_pool:
            self.pool.close()

    def __enter__(self) -> ReveriePostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ReverieAsyncPostgresStore(_Configured):
    """The async twin of :class:`ReveriePostgresStore`, bound to the event loop it was opened
    on; close it with ``await store.aclose()`` or ``async with``.

    Its sync methods may be called from other threads (they run on that loop), never from the
    loop itself.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        index: Mapping[str, Any] | None = None,
        ttl: TTLConfig | None = None,
        tuning: SearchTuning | None = None,
        session_tuned: bool = False,
        where: str = "the configured server",
        owns_pool: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        ranking: RankingOptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._configure(index, ttl, tuning, session_tuned, where, ranking, limits)
        self.pool = pool
        self.loop = loop or asyncio.get_running_loop()
        self._runner = AsyncRunner(pool, self.embeddings, where)
        self._owns_pool = owns_pool
        self._sweeper = TaskSweeper(self.sweep_ttl)

    def __repr__(self) -> str:
        return f"ReverieAsyncPostgresStore({self.where!r})"

    async def setup(self) -> None:
        """Create or migrate the tables and backfill keyword terms (see the sync store's)."""
        self._set_up(await self._runner.run(migrate(self.settings.index, self.where)))
        if self.settings.index is not None and self.settings.schema.has_keywords:
            await self._runner.run(backfill_keywords(self.settings.index))

    # -- the storage port ----------------------------------------------------------------
    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]:
        return await self._runner.run(run_batch(list(ops), self.settings))

    def batch(self, ops: Iterable[PortOp]) -> list[Result]:
        return self._on_loop(self.abatch(list(ops)))

    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult:
        return await self._runner.run(run_commit(list(expected), list(writes), self.settings))

    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        return self._on_loop(self.acommit(list(expected), list(writes)))

    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return await self._runner.run(run_tally(list(namespaces)))

    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return self._on_loop(self.atally(list(namespaces)))

    def _on_loop(self, call: Coroutine[Any, Any, T]) -> T:
        if _running_loop() is self.loop:
            call.close()
            raise StoreError(
                "The async PostgreSQL store's sync methods cannot run on its own event loop "
                "(they would wait for themselves); await abatch()/acommit() (aget, asearch, "
                "aput, ...) there instead."
            )
        return asyncio.run_coroutine_threadsafe(call, self.loop).result()

    # -- TTL -------------------------------------------------------------------------------
    async def sweep_ttl(self) -> int:
        """Delete expired items now; returns how many."""
        return await self._runner.run(sweep())

    async def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Task[None]:
        """Sweep every ``sweep_interval_minutes`` (default: the TTL config's, else 5) in a task.
        Without a TTL config the task does nothing."""
        if not self.ttl_config:
            return asyncio.get_running_loop().create_task(asyncio.sleep(0))
        return self._sweeper.start(sweep_interval_s(self.ttl_config, sweep_interval_minutes))

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper; False if it did not stop within ``timeout`` seconds."""
        return await self._sweeper.stop(timeout)

    # -- lifecycle -------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self.stop_ttl_sweeper(timeout=1)
        if self._owns_pool:
            await self.pool.close()

    async def __aenter__(self) -> ReverieAsyncPostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
