"""Connections to the queue database: one pool for blocking callers, one per event loop for
async callers (an async pool belongs to the loop that opened it)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool


class QueueConnections:
    """Lazily opened pools on ``dsn``, each of at most ``max_connections``."""

    def __init__(self, dsn: str, max_connections: int) -> None:
        self.dsn = dsn
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._sync: ConnectionPool[Any] | None = None
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncConnectionPool[Any]
        ] = weakref.WeakKeyDictionary()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("cannot submit to a DurableReflectionExecutor after shutdown")

    def blocking(self) -> ConnectionPool[Any]:
        with self._lock:
            self._check_open()
            if self._sync is None:
                self._sync = ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_connections,
                    open=True,
                    name="reverie-queue",
                    kwargs={"autocommit": True},
                )
            return self._sync

    async def for_this_loop(self) -> AsyncConnectionPool[Any]:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._check_open()
            pool = self._async.get(loop)
            if pool is None:
                pool = self._async[loop] = AsyncConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_connections,
                    open=False,
                    name="reverie-queue-async",
                    kwargs={"autocommit": True},
                )
                opening = True
            else:
                opening = False
        if opening:
            await pool.open()
        return pool

    def close(self) -> None:
        """Close every pool: blocking callers' now, async callers' on their own loops."""
        with self._lock:
            self._closed = True
            sync, self._sync = self._sync, None
            pools = list(self._async.items())
            self._async.clear()
        if sync is not None:
            sync.close()
        for loop, pool in pools:
            if loop.is_closed():
                continue  # its connections went with the loop
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(pool.close())  # cannot wait here without blocking the loop
            elif loop.is_running():
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(pool.close(), loop).result(timeout=10)
            else:
                loop.run_until_complete(pool.close())
