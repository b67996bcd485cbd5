"""PostgreSQL + pgvector memory stores built on LangGraph's ``PostgresStore``.

``open_postgres_store(url)`` checks the server (reachable, database present, pgvector enabled,
matching vector dimensions), opens a connection pool, runs LangGraph's migrations once and
returns a store that is a context manager with ``close()``. ``open_async_postgres_store`` is the
async twin.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, Connection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from reverie.core.errors import StoreError
from reverie.stores.postgres.connection import (
    acheck_server,
    asetup_lock,
    check_server,
    redact,
    setup_lock,
)
from reverie.stores.postgres.search import SearchTuning
from reverie.stores.postgres.store import (
    ReverieAsyncPostgresStore,
    ReveriePostgresStore,
    atune_connection,
    pool_kwargs,
    tune_connection,
)

DEFAULT_POOL_SIZE = 10


def _resolve_index(index: dict[str, Any] | None) -> dict[str, Any]:
    if index is not None:
        return dict(index)
    from reverie.embeddings import default_index  # heavy: only when no index is given

    return dict(default_index())


def _tuning(exact_below: int | None, ef_search: int, iterative: bool) -> SearchTuning:
    defaults = SearchTuning()
    return SearchTuning(
        exact_below=defaults.exact_below if exact_below is None else exact_below,
        iterative_scan=iterative,
        ef_search=ef_search,
    )


def open_postgres_store(
    url: str,
    *,
    index: dict[str, Any] | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    exact_search_below: int | None = None,
    hnsw_ef_search: int = 40,
    connect_timeout: float = 10.0,
    pool_timeout: float = 30.0,
) -> ReveriePostgresStore:
    """Open the PostgreSQL store at ``url`` (``postgresql://user:pass@host:port/db``).

    ``index`` is a LangGraph index config (``dims``, ``embed``, optional ``fields``,
    ``ann_index_config``, ``distance_type``); ``None`` means Reverie's default offline embeddings.
    ``pool_size`` caps the pool's connections. Namespaces with at most ``exact_search_below``
    items (default 2,000) are searched exactly, larger ones through the HNSW index with
    ``hnsw_ef_search`` candidates (pgvector's default 40; raise it for better recall).
    ``pool_timeout`` is how long an operation waits for a connection, e.g. while the server
    restarts. Raises ConfigurationError or StoreError saying what to fix.
    """
    config = _resolve_index(index)
    info = check_server(url, dims=config.get("dims"), connect_timeout=connect_timeout)
    where = redact(url)
    tuning = _tuning(exact_search_below, hnsw_ef_search, info.iterative_scan)
    pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
        url,
        min_size=1,
        max_size=max(1, pool_size),
        kwargs=pool_kwargs(),
        configure=tune_connection(tuning) if tuning.iterative_scan else None,
        check=ConnectionPool.check_connection,
        timeout=pool_timeout,
        name="reverie",
        open=False,
    )
    try:
        pool.open(wait=True, timeout=connect_timeout)
    except Exception as exc:
        pool.close()
        raise StoreError(
            f"Could not open a connection pool to PostgreSQL at {where}: {exc}"
        ) from exc
    store = ReveriePostgresStore(
        pool,
        index=config,  # type: ignore[arg-type]
        tuning=tuning,
        session_tuned=tuning.iterative_scan,
        where=where,
        owns_pool=True,
    )
    try:
        with setup_lock(url, connect_timeout):
            store.setup()
    except BaseException:
        store.close()
        raise
    return store


async def open_async_postgres_store(
    url: str,
    *,
    index: dict[str, Any] | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    exact_search_below: int | None = None,
    hnsw_ef_search: int = 40,
    connect_timeout: float = 10.0,
    pool_timeout: float = 30.0,
) -> ReverieAsyncPostgresStore:
    """The async twin of :func:`open_postgres_store`; close with ``await store.aclose()`` or
    ``async with``."""
    config = _resolve_index(index)
    info = await acheck_server(url, dims=config.get("dims"), connect_timeout=connect_timeout)
    where = redact(url)
    tuning = _tuning(exact_search_below, hnsw_ef_search, info.iterative_scan)
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max(1, pool_size),
        kwargs=pool_kwargs(),
        configure=atune_connection(tuning) if tuning.iterative_scan else None,
        check=AsyncConnectionPool.check_connection,
        timeout=pool_timeout,
        name="reverie-async",
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=connect_timeout)
    except Exception as exc:
        await pool.close()
        raise StoreError(
            f"Could not open a connection pool to PostgreSQL at {where}: {exc}"
        ) from exc
    store = ReverieAsyncPostgresStore(
        pool,
        index=config,  # type: ignore[arg-type]
        tuning=tuning,
        session_tuned=tuning.iterative_scan,
        where=where,
        owns_pool=True,
    )
    try:
        async with asetup_lock(url, connect_timeout):
            await store.setup()
    except BaseException:
        await store.aclose()
        raise
    return store


__all__ = [
    "ReverieAsyncPostgresStore",
    "ReveriePostgresStore",
    "SearchTuning",
    "open_async_postgres_store",
    "open_postgres_store",
]
