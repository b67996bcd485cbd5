"""A lock across processes for read-check-write sequences, as a PostgreSQL advisory lock.

The lock belongs to a database session, so the server releases it if the holder's process dies.
It is held on a connection of its own: with a pool of one connection it could otherwise take
the connection the guarded writes need.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

# One lock per database for all Reverie writers (b"REVERIE\x01" as a signed 64-bit integer).
LOCK_KEY = int.from_bytes(b"REVERIE\x01", "big", signed=True)
_LOCK = "SELECT pg_advisory_lock(%s)"
_UNLOCK = "SELECT pg_advisory_unlock(%s)"


@contextlib.contextmanager
def _lock_connection(conn: Any) -> Iterator[Any]:
    if isinstance(conn, ConnectionPool):
        if conn.max_size > 1:
            with conn.connection() as pooled:
                yield pooled
        else:
            info = conn.conninfo() if callable(conn.conninfo) else conn.conninfo
            with psycopg.connect(info, autocommit=True, **_connect_kwargs(conn)) as own:
                yield own
    else:
        yield conn  # a single connection: LangGraph serialises its use; the session holds the lock


@contextlib.asynccontextmanager
async def _alock_connection(conn: Any) -> AsyncIterator[Any]:
    if isinstance(conn, AsyncConnectionPool):
        if conn.max_size > 1:
            async with conn.connection() as pooled:
                yield pooled
        else:
            info = conn.conninfo() if callable(conn.conninfo) else conn.conninfo
            if inspect.isawaitable(info):
                info = await info
            own = await psycopg.AsyncConnection.connect(
                str(info), autocommit=True, **_connect_kwargs(conn)
            )
            async with own:
                yield own
    else:
        yield conn


def _connect_kwargs(pool: Any) -> dict[str, Any]:
    kwargs = dict(getattr(pool, "kwargs", None) or {})
    kwargs.pop("autocommit", None)
    kwargs.pop("row_factory", None)
    return kwargs


@contextlib.contextmanager
def advisory_write_lock(conn: Any) -> Iterator[None]:
    with _lock_connection(conn) as locked:
        locked.execute(_LOCK, (LOCK_KEY,))
        try:
            yield
        finally:
            locked.execute(_UNLOCK, (LOCK_KEY,))


@contextlib.asynccontextmanager
async def aadvisory_write_lock(conn: Any) -> AsyncIterator[None]:
    async with _alock_connection(conn) as locked:
        await locked.execute(_LOCK, (LOCK_KEY,))
        try:
            yield
        finally:
            await locked.execute(_UNLOCK, (LOCK_KEY,))
