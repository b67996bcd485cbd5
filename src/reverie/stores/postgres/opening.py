"""Opening a store: check the server, open a connection pool, run the migrations once.

Each pooled connection is autocommit (a plan opens a transaction where it needs one), returns
rows as dicts, and carries pgvector's search settings for the session where the server supports
iterative index scans.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import psycopg
from langgraph.store.base import TTLConfig
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from reverie.core.errors import StoreError
from reverie.core.indexing import RankingOptions
from reverie.core.limits import Limits
from reverie.stores.postgres.connection import (
    acheck_server,
    asetup_lock,
    check_server,
    redact,
    setup_lock,
)
from reverie.stores.postgres.search import SearchTuning, session_settings
from reverie.stores.postgres.store import ReverieAsyncPostgresStore, ReveriePostgresStore

DEFAULT_POOL_SIZE = 10


def pool_kwargs() -> dict[str, Any]:
    """Settings of every pooled connection (the same as LangGraph's ``PostgresStore`` uses)."""
    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


def _pool_options(pool_size: int, pool_timeout: float) -> dict[str, Any]:
    """Pool settings shared by both openers (the pool is opened once the store is built)."""
    return {
        "min_size": 1,
        "max_size": max(1, pool_size),
        "kwargs": pool_kwargs(),
        "timeout": pool_timeout,
        "open": False,
    }


def _tuning(exact_below: int | None, ef_search: int, iterative: bool) -> SearchTuning:
    defaults = SearchTuning()
    return SearchTuning(
        exact_below=defaults.exact_below if exact_below is None else exact_below,
        iterative_scan=iterative,
        ef_search=ef_search,
    )


def _tune(tuning: SearchTuning) -> Callable[[psycopg.Connection[Any]], None]:
    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute(session_settings(tuning))

    return configure


def _atune(tuning: SearchTuning) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]:
    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(session_settings(tuning))

    return configure


def open_postgres_store(
    url: str,
    *,
    index: Mapping[str, Any] | None = None,
    ttl: TTLConfig | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    exact_search_below: int | None = None,
    hnsw_ef_search: int = 40,
    connect_timeout: float = 10.0,
    pool_timeout: float = 30.0,
    ranking: RankingOptions | None = None,
    limits: Limits | None = None,
) -> ReveriePostgresStore:
    """Open the PostgreSQL store at ``url`` (``postgresql://user:pass@host:port/db``).

    ``index`` is a LangGraph index config (``dims``, ``embed``, optional ``fields``,
    ``ann_index_config``, ``distance_type``); without one the store is a plain key-value store
    like LangGraph's ``PostgresStore()`` (no embedder is loaded and search queries are
    ignored). ``ttl`` is LangGraph's ``TTLConfig`` (``default_ttl`` minutes, ``refresh_on_read``,
    ``sweep_interval_minutes`` for :meth:`~ReveriePostgresStore.start_ttl_sweeper`).
    ``pool_size`` caps the pool's connections. Namespaces with at most ``exact_search_below``
    items (default 2,000) are searched exactly, larger ones through the HNSW index with
    ``hnsw_ef_search`` candidates (pgvector's default 40; raise it for better recall).
    ``pool_timeout`` is how long an operation waits for a connection, e.g. while the server
    restarts. ``limits`` are the store-level limits (``reverie.core.limits``; the same as the
    embedded store's by default). Searches with a query are hybrid (vector + BM25 + episode
    context, as the embedded store's), weighed by ``ranking`` (``reverie.RankingOptions``);
    scores are cosines. Raises ConfigurationError or StoreError saying what to fix.
    """
    info = check_server(url, dims=_dims(index), connect_timeout=connect_timeout)
    where = redact(url)
    tuning = _tuning(exact_search_below, hnsw_ef_search, info.iterative_scan)
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        configure=_tune(tuning) if tuning.iterative_scan else None,
        check=ConnectionPool.check_connection,
        name="reverie",
        **_pool_options(pool_size, pool_timeout),
    )
    try:
        pool.open(wait=True, timeout=connect_timeout)
    except Exception as exc:
        pool.close()
        raise StoreError(
            f"Could not open a connection pool to PostgreSQL at {where}: {exc}"
        ) from exc
    try:
        store = ReveriePostgresStore(
            pool, index=index, ttl=ttl, tuning=tuning, session_tuned=tuning.iterative_scan,
            ranking=ranking,
            where=where, owns_pool=True, limits=limits,
        )  # fmt: skip
        with setup_lock(url, connect_timeout):
            store.setup()
    except BaseException:
        pool.close()
        raise
    return store


async def open_async_postgres_store(
    url: str,
    *,
    index: Mapping[str, Any] | None = None,
    ttl: TTLConfig | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    exact_search_below: int | None = None,
    hnsw_ef_search: int = 40,
    connect_timeout: float = 10.0,
    pool_timeout: float = 30.0,
    ranking: RankingOptions | None = None,
    limits: Limits | None = None,
) -> ReverieAsyncPostgresStore:
    """The async twin of :func:`open_postgres_store`; close with ``await store.aclose()`` or
    ``async with``. The store belongs to the running event loop."""
    info = await acheck_server(url, dims=_dims(index), connect_timeout=connect_timeout)
    where = redact(url)
    tuning = _tuning(exact_search_below, hnsw_ef_search, info.iterative_scan)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        configure=_atune(tuning) if tuning.iterative_scan else None,
        check=AsyncConnectionPool.check_connection,
        name="reverie-async",
        **_pool_options(pool_size, pool_timeout),
    )
    try:
        await pool.open(wait=True, timeout=connect_timeout)
    except Exception as exc:
        await pool.close()
        raise StoreError(
            f"Could not open a connection pool to PostgreSQL at {where}: {exc}"
        ) from exc
    try:
        store = ReverieAsyncPostgresStore(
            pool, index=index, ttl=ttl, tuning=tuning, session_tuned=tuning.iterative_scan,
            ranking=ranking,
            where=where, owns_pool=True, limits=limits,
        )  # fmt: skip
        async with asetup_lock(url, connect_timeout):
            await store.setup()
    except BaseException:
        await pool.close()
        raise
    return store


def _dims(index: Mapping[str, Any] | None) -> int | None:
    if index is None:
        return None
    dims = index.get("dims")
    return dims if isinstance(dims, int) else None
