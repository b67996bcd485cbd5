"""Store factories every store-generic test is parametrized over.

Each factory is a context manager taking ``(tmp_path, index)`` and yielding a fresh, empty
LangGraph ``BaseStore``. A factory that cannot run here raises ``pytest.skip`` with how to enable
it (never in CI, where every backend must run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from langgraph.store.base import BaseStore, IndexConfig
from langgraph.store.memory import InMemoryStore

StoreFactory = Callable[[Path, IndexConfig | None], contextlib.AbstractContextManager[BaseStore]]


@contextlib.contextmanager
def memory_store(tmp_path: Path, index: IndexConfig | None) -> Iterator[BaseStore]:
    yield InMemoryStore(index=index) if index else InMemoryStore()


@contextlib.contextmanager
def embedded_store(tmp_path: Path, index: IndexConfig | None) -> Iterator[BaseStore]:
    from reverie.stores.embedded import EmbeddedStore

    with EmbeddedStore(tmp_path / "memories.db", index=index) as store:
        yield store


@contextlib.contextmanager
def postgres_store(tmp_path: Path, index: IndexConfig | None) -> Iterator[BaseStore]:
    """A store in a fresh PostgreSQL database (skips locally, fails in CI, without a server)."""
    from tests.postgres.support import fresh_database, open_test_store

    with fresh_database() as url, open_test_store(url, index) as store:
        yield store


@contextlib.contextmanager
def postgres_async_store(tmp_path: Path, index: IndexConfig | None) -> Iterator[BaseStore]:
    """The async PostgreSQL store in a fresh database, driven on its own event loop (its own
    ``abatch`` and ``acommit`` run)."""
    from tests.postgres.support import async_store_on_loop, fresh_database

    with fresh_database() as url, async_store_on_loop(url, index) as store:
        yield store


FACTORIES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "embedded": embedded_store,
    "postgres": postgres_store,
    "postgres_async": postgres_async_store,
}
