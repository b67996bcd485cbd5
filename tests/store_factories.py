"""Store factories every store-generic test is parametrized over.

Each factory is a context manager taking ``(tmp_path, index)`` and yielding a fresh, empty
LangGraph ``BaseStore``. A factory that cannot run here raises ``pytest.skip`` with how to enable
it (never in CI, where every backend must run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

StoreFactory = Callable[[Path, dict[str, Any] | None], contextlib.AbstractContextManager[BaseStore]]


@contextlib.contextmanager
def memory_store(tmp_path: Path, index: dict[str, Any] | None) -> Iterator[BaseStore]:
    yield InMemoryStore(index=index) if index else InMemoryStore()


@contextlib.contextmanager
def embedded_store(tmp_path: Path, index: dict[str, Any] | None) -> Iterator[BaseStore]:
    from reverie.stores.embedded import EmbeddedStore

    with EmbeddedStore(tmp_path / "memories.db", index=index) as store:
        yield store


FACTORIES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "embedded": embedded_store,
}
