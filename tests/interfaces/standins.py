"""Stand-ins for storage parts that may not be installed alongside the interfaces yet.

``install()`` only fills in modules that cannot be imported, so with the real embedded store and
embeddings present it changes nothing. The stand-in store is an in-memory store saved to a JSON
file on close, indexed with the deterministic hashing embedder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from datetime import datetime
from pathlib import Path
from typing import Any

from langgraph.store.base import Item
from langgraph.store.memory import InMemoryStore

from reverie.testing import hashing_index

HAS_EMBEDDED_STORE = importlib.util.find_spec("reverie.stores") is not None
HAS_EMBEDDINGS = importlib.util.find_spec("reverie.embeddings") is not None
NEEDS_STORE = "needs the embedded store (reverie.stores), not installed here"


class _FileBackedStore(InMemoryStore):
    def __init__(self, path: Path, index: dict[str, Any] | None) -> None:
        if index is None:  # as the contract says: the default index of reverie.embeddings
            from reverie.embeddings import default_index

            index = default_index()
        super().__init__(index=index)
        self.path = path
        if path.exists():
            for row in json.loads(path.read_text()):
                self.put(tuple(row["namespace"]), row["key"], row["value"])
                self._data[tuple(row["namespace"])][row["key"]] = Item(
                    namespace=tuple(row["namespace"]),
                    key=row["key"],
                    value=row["value"],
                    created_at=datetime.fromisoformat(row["created_at"]),
                    updated_at=datetime.fromisoformat(row["updated_at"]),
                )

    def close(self) -> None:
        rows = [item.dict() for items in self._data.values() for item in items.values()]
        self.path.write_text(json.dumps(rows))


def _open_store(target: str | Path | None = None, *, index: dict[str, Any] | None = None):
    path = Path(target or os.environ.get("REVERIE_STORE") or "memories.standin.json")
    return _FileBackedStore(path, index)


def missing_modules() -> dict[str, types.ModuleType]:
    """Stand-ins for the storage modules that cannot be imported here (none once they exist)."""
    modules: dict[str, types.ModuleType] = {}
    if not HAS_EMBEDDED_STORE:
        stores = types.ModuleType("reverie.stores")
        stores.open_store = _open_store  # type: ignore[attr-defined]
        modules["reverie.stores"] = stores
    if not HAS_EMBEDDINGS:
        embeddings = types.ModuleType("reverie.embeddings")
        embeddings.default_index = lambda fields=None: hashing_index(fields=fields)  # type: ignore[attr-defined]
        modules["reverie.embeddings"] = embeddings
    return modules


def install() -> None:
    sys.modules.update(missing_modules())
