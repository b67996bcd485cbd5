"""LangGraph's PostgresStore / AsyncPostgresStore on a connection pool, with correct
namespace-scoped vector search and typed errors.

The pool re-validates a connection each time it is handed out, so after a server restart stale
connections are dropped and new ones made. An operation that was in flight when the connection
broke raises :class:`~reverie.core.errors.StoreError`; retrying it is the caller's decision.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

import psycopg
from langgraph.store.base import Op, Result, SearchOp
from langgraph.store.postgres import AsyncPostgresStore, PostgresStore
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from reverie.core.errors import StoreError
from reverie.stores.postgres.connection import redact
from reverie.stores.postgres.search import (
    SearchTuning,
    ann_settings,
    exact_variant,
    fill_query_vectors,
    namespace_count_query,
    score_expression,
    to_items,
)

logger = logging.getLogger(__name__)

# Errors meaning the server could not be reached or the connection broke mid-operation.
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def _unavailable(where: str, exc: BaseException) -> StoreError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(
        f"PostgreSQL at {where} is unavailable ({reason}). The operation may not have been "
        "applied; retry it once the server is back (the connection pool reconnects by itself)."
    )


class _SearchPlanning:
    """State shared by the sync and async stores for planning vector searches."""

    index_config: Any
    _tuning: SearchTuning
    _score: str | None
    _warned_shape: bool

    def _init_search(self, tuning: SearchTuning) -> None:
        self._tuning = tuning
        self._score = score_expression(self) if self.index_config else None
        self._warned_shape = False

    def _exact_query(self, query: str) -> str | None:
        exact = exact_variant(query, self._score or "")
        if exact is None and not self._warned_shape:
            self._warned_shape = True
            logger.warning(
                "Unrecognised LangGraph search SQL; small namespaces fall back to the HNSW index."
            )
        return exact


class ReveriePostgresStore(_SearchPlanning, PostgresStore):
    """A :class:`PostgresStore` whose namespace searches return the true nearest items.

    Build it with :func:`open_postgres_store`. ``close()`` closes the pool it owns.
    """

    def __init__(
        self,
        conn: Any,
        *,
        index: Any = None,
        ttl: Any = None,
        tuning: SearchTuning | None = None,
        where: str = "the configured server",
        owns_pool: bool = False,
    ) -> None:
        super().__init__(conn, index=index, ttl=ttl)
        self._init_search(tuning or SearchTuning())
        self._where = where
        self._owns_pool = owns_pool

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self.stop_ttl_sweeper(timeout=1)
        if self._owns_pool and isinstance(self.conn, ConnectionPool):
            self.conn.close()

    def __enter__(self) -> ReveriePostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- operations ------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        try:
            return super().batch(ops)
        except _UNAVAILABLE as exc:
            raise _unavailable(self._where, exc) from exc

    @contextlib.contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[psycopg.Cursor[DictRow]]:
        # Each pooled connection serves one caller at a time, so the store-wide lock LangGraph
        # takes would only serialise independent callers.
        if pipeline and isinstance(self.conn, ConnectionPool) and self.supports_pipeline:
            with (
                self.conn.connection() as conn,
                conn.pipeline(),
                conn.cursor(binary=True, row_factory=dict_row) as cur,
            ):
                yield cur
        else:
            with super()._cursor(pipeline=pipeline) as cur:
                yield cur

    def _batch_search_ops(
        self,
        search_ops: Sequence[tuple[int, SearchOp]],
        results: list[Result],
        cur: psycopg.Cursor[DictRow],
    ) -> None:
        queries, requests = self._prepare_batch_search_queries(search_ops)
        if requests and self.embeddings:
            vectors = self.embeddings.embed_documents([text for _, text in requests])
            fill_query_vectors(queries, requests, vectors)
        for (idx, op), (query, params) in zip(search_ops, queries, strict=True):
            if op.query and self.index_config:
                rows = self._vector_search(cur, op, query, params)
            else:
                cur.execute(query, params)
                rows = cur.fetchall()
            results[idx] = to_items(rows, self._deserializer)

    def _vector_search(
        self, cur: psycopg.Cursor[DictRow], op: SearchOp, query: str, params: list[Any]
    ) -> list[DictRow]:
        counting = namespace_count_query(op, self._tuning.exact_below)
        if counting is not None:
            cur.execute(*counting)
            row = cur.fetchone()
            if row is not None and row["n"] <= self._tuning.exact_below:
                exact = self._exact_query(query)
                if exact is not None:
                    cur.execute(exact, params)
                    return cur.fetchall()
        if not self._tuning.iterative_scan:
            cur.execute(query, params)
            return cur.fetchall()
        with cur.connection.transaction():
            cur.execute(*ann_settings(self._tuning, op))
            cur.execute(query, params)
            return cur.fetchall()


class ReverieAsyncPostgresStore(_SearchPlanning, AsyncPostgresStore):
    """The async twin of :class:`ReveriePostgresStore`; build it with
    :func:`open_async_postgres_store` and close it with ``await store.aclose()``."""

    def __init__(
        self,
        conn: Any,
        *,
        index: Any = None,
        ttl: Any = None,
        tuning: SearchTuning | None = None,
        where: str = "the configured server",
        owns_pool: bool = False,
    ) -> None:
        super().__init__(conn, index=index, ttl=ttl)
        self._init_search(tuning or SearchTuning())
        self._where = where
        self._owns_pool = owns_pool

    async def aclose(self) -> None:
        await self.stop_ttl_sweeper(timeout=1)
        if self._owns_pool and isinstance(self.conn, AsyncConnectionPool):
            await self.conn.close()

    async def __aenter__(self) -> ReverieAsyncPostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        try:
            return await super().abatch(ops)
        except _UNAVAILABLE as exc:
            raise _unavailable(self._where, exc) from exc

    async def _batch_search_ops(
        self,
        search_ops: Sequence[tuple[int, SearchOp]],
        results: list[Result],
        cur: psycopg.AsyncCursor[DictRow],
    ) -> None:
        queries, requests = self._prepare_batch_search_queries(search_ops)
        if requests and self.embeddings:
            vectors = await self.embeddings.aembed_documents([text for _, text in requests])
            fill_query_vectors(queries, requests, vectors)
        for (idx, op), (query, params) in zip(search_ops, queries, strict=True):
            if op.query and self.index_config:
                rows = await self._vector_search(cur, op, query, params)
            else:
                await cur.execute(query, params)
                rows = await cur.fetchall()
            results[idx] = to_items(rows, self._deserializer)

    async def _vector_search(
        self, cur: psycopg.AsyncCursor[DictRow], op: SearchOp, query: str, params: list[Any]
    ) -> list[DictRow]:
        counting = namespace_count_query(op, self._tuning.exact_below)
        if counting is not None:
            await cur.execute(*counting)
            row = await cur.fetchone()
            if row is not None and row["n"] <= self._tuning.exact_below:
                exact = self._exact_query(query)
                if exact is not None:
                    await cur.execute(exact, params)
                    return await cur.fetchall()
        if not self._tuning.iterative_scan:
            await cur.execute(query, params)
            return await cur.fetchall()
        async with cur.connection.transaction():
            await cur.execute(*ann_settings(self._tuning, op))
            await cur.execute(query, params)
            return await cur.fetchall()


def pool_kwargs() -> dict[str, Any]:
    """Connection settings LangGraph's store expects on every pooled connection."""
    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


__all__ = ["ReverieAsyncPostgresStore", "ReveriePostgresStore", "pool_kwargs"]