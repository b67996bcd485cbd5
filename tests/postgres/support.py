"""A fresh PostgreSQL database per test, on the server started by ``scripts/postgres.sh``.

Locally the tests skip with instructions when no server is reachable; in CI (``CI=true``) they
fail instead, so a missing server can never pass silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from langgraph.store.base import BaseStore, IndexConfig, Result

from reverie.core.ports import (
    CommitResult,
    Expectation,
    NamespaceTally,
    NativeStore,
    PortOp,
    Write,
)
from reverie.stores.postgres import (
    ReverieAsyncPostgresStore,
    ReveriePostgresStore,
    open_async_postgres_store,
    open_postgres_store,
)

T = TypeVar("T")
ADMIN_URL = os.environ.get(
    "REVERIE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:55432/postgres"
)
TEMPLATE = "reverie_test_template"
ENABLE = "PostgreSQL not running: run `bash scripts/postgres.sh start` (root) to enable"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def database_url(name: str, base: str = ADMIN_URL) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


@functools.lru_cache(maxsize=1)
def _server_problem() -> str | None:
    """Why the test server cannot be used, or None once the template database is ready."""
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
                ).fetchone()
                is None
            ):
                return "pgvector is not installed on the test server"
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)
            ).fetchone()
            if exists is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        with psycopg.connect(database_url(TEMPLATE), autocommit=True, connect_timeout=3) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


def require_postgres() -> str:
    """The admin URL of the test server; skips (locally) or fails (in CI) without one."""
    problem = _server_problem()
    if problem is not None:
        if in_ci():
            pytest.fail(
                f"PostgreSQL tests must run in CI but the server at {ADMIN_URL} is unusable "
                f"({problem}). Run `bash scripts/postgres.sh start` before the tests.",
                pytrace=False,
            )
        pytest.skip(f"{ENABLE} ({problem})")
    return ADMIN_URL


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database with pgvector enabled; yield its URL; drop it afterwards."""
    admin = require_postgres()
    name = f"reverie_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        for attempt in range(20):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
                break
            except psycopg.errors.ObjectInUse:  # another test process is copying the template
                if attempt == 19:
                    raise
                time.sleep(0.1)
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def open_test_store(url: str, index: IndexConfig | None) -> ReveriePostgresStore:
    """``open_postgres_store``; with ``index=None`` a key-value store without vectors."""
    return open_postgres_store(url, index=index)


async def open_async_test_store(url: str, index: IndexConfig | None) -> ReverieAsyncPostgresStore:
    """The async twin of :func:`open_test_store`."""
    return await open_async_postgres_store(url, index=index)


class OnLoop(NativeStore):
    """Runs an async store's operations on the event loop that owns it, from any thread or loop.

    The async store is bound to the loop it was opened on; this lets store-generic tests (sync
    ones and async ones on pytest's loop) drive it unchanged. It forwards commits too, so the
    async store's own ``acommit`` is what runs.
    """

    def __init__(self, store: ReverieAsyncPostgresStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.ttl_config = store.ttl_config
        self.supports_ttl = store.supports_ttl

    def __repr__(self) -> str:
        return f"OnLoop({self.store!r})"

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(call, self.loop).result()

    async def _arun(self, call: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self.loop))

    def batch(self, ops: Iterable[PortOp]) -> list[Result]:
        return self._run(self.store.abatch(list(ops)))

    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]:
        return await self._arun(self.store.abatch(list(ops)))

    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        return self._run(self.store.acommit(expected, writes))

    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult:
        return await self._arun(self.store.acommit(expected, writes))

    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return self._run(self.store.atally(namespaces))

    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return await self._arun(self.store.atally(namespaces))

    def default_index_fields(self) -> list[str] | None:
        return self.store.default_index_fields()


@contextlib.contextmanager
def async_store_on_loop(url: str, index: IndexConfig | None) -> Iterator[BaseStore]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True, name="postgres-async-store")
    thread.start()
    try:
        store = asyncio.run_coroutine_threadsafe(open_async_test_store(url, index), loop).result()
        try:
            yield OnLoop(store, loop)
        finally:
            asyncio.run_coroutine_threadsafe(store.aclose(), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
