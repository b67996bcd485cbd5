"""Opening the store a command works on, and walking, finding and restoring its items."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from langgraph.store.base import BaseStore, IndexConfig, Item
from pydantic import BaseModel, ConfigDict, field_validator

from reverie.cli.episodes import EPISODE_INDEX_FIELDS
from reverie.core.errors import ConfigurationError, InputError, NamespaceError
from reverie.core.namespace import RESERVED_ROOT, NamespaceTemplate
from reverie.core.ports import NamespaceSearch, NativeStore, RestoredItem, Write
from reverie.ledger import port_for
from reverie.stores import default_target, open_store

DEFAULT_NAMESPACE = "memories/{langgraph_user_id}"
DEFAULT_USER = "default"
BOOKKEEPING_ROOT = RESERVED_ROOT
_PAGE = 500


def describe_target(target: str | None) -> str:
    """How the user would recognise the store: its path or URL (without a password)."""
    where = target or default_target()
    if "://" in where and "@" in where:
        scheme, rest = where.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return where


@contextlib.contextmanager
def opened_store(
    target: str | Path | None, *, index: IndexConfig | None = None
) -> Iterator[NativeStore]:
    """Open ``target`` (None: the default store) for one command and close it afterwards."""
    try:
        store = open_store(target, index=index)
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(
            f"Cannot open {describe_target(str(target) if target else None)}: {exc}"
        ) from exc
    try:
        yield store
    finally:
        store.close()


def parse_namespace(text: str, user: str = DEFAULT_USER) -> tuple[str, ...]:
    """``"memories/{langgraph_user_id}"`` -> ``("memories", user)``; labels are separated by '/'."""
    labels = [label for label in text.strip().strip("/").split("/")]
    if not text.strip() or any(not label for label in labels):
        raise NamespaceError(
            f"Namespace {text!r} is not valid. "
            "Write labels separated by '/', e.g. 'memories/alice'."
        )
    return NamespaceTemplate(labels)({"configurable": {"langgraph_user_id": user, "user": user}})


def format_namespace(namespace: tuple[str, ...] | list[str]) -> str:
    return "/".join(namespace)


def is_bookkeeping(namespace: tuple[str, ...] | list[str]) -> bool:
    """Reverie's own bookkeeping (thread progress, history) lives under ``__reverie__``."""
    return bool(namespace) and namespace[0] == BOOKKEEPING_ROOT


def iter_items(
    store: BaseStore,
    prefix: tuple[str, ...] = (),
    *,
    descendants: bool = True,
    internal: bool = False,
) -> Iterator[Item]:
    """Every item of namespace ``prefix`` (and, with ``descendants``, below it), each once.

    Bookkeeping namespaces are left out unless ``internal`` is set or ``prefix`` points into them.
    """
    port = port_for(store)
    if descendants:
        namespaces = store.list_namespaces(prefix=prefix or None, limit=1_000_000)
    else:
        namespaces = [prefix]
    for namespace in namespaces:
        if is_bookkeeping(namespace) and not (internal or is_bookkeeping(prefix)):
            continue
        offset = 0
        while True:
            (page,) = port.batch([NamespaceSearch(tuple(namespace), limit=_PAGE, offset=offset)])
            assert isinstance(page, list)
            yield from cast(list[Item], page)
            if len(page) < _PAGE:
                break
            offset += _PAGE


def find_item(store: BaseStore, key: str, namespace: tuple[str, ...] | None) -> Item:
    """The item stored under ``key`` (in ``namespace`` if given); a clear error if none or many."""
    if namespace is not None:
        item = store.get(namespace, key)
        if item is None:
            raise InputError(
                f"No memory with key {key!r} in namespace {format_namespace(namespace)!r}. "
                "Run 'reverie list' to see the keys."
            )
        return item
    found = [
        item
        for ns in store.list_namespaces(limit=1_000_000)
        if (item := store.get(ns, key)) is not None
    ]
    if not found:
        raise InputError(f"No memory with key {key!r}. Run 'reverie list' to see the keys.")
    if len(found) > 1:
        places = ", ".join(format_namespace(i.namespace) for i in found)
        raise InputError(
            f"Key {key!r} exists in several namespaces ({places}); choose one with --namespace."
        )
    return found[0]


def memory_text(value: dict[str, Any]) -> str:
    """The readable text of a stored value, whichever writer produced it."""
    content = value.get("content", value)
    if isinstance(content, dict):
        text = content.get("content")
        if isinstance(text, str):
            return text
        return ", ".join(f"{k}={v}" for k, v in content.items())
    return str(content)


class ExportRecord(BaseModel):
    """One line of an export file: everything needed to put the item back exactly."""

    model_config = ConfigDict(extra="forbid")

    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @field_validator("namespace")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        if not labels or any(not label or "." in label for label in labels):
            raise ValueError("namespace must be a non-empty list of labels without dots")
        return labels

    @classmethod
    def of(cls, item: Item) -> ExportRecord:
        return cls(
            namespace=list(item.namespace),
            key=item.key,
            value=item.value,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )

    def to_item(self) -> Item:
        return Item(
            namespace=tuple(self.namespace),
            key=self.key,
            value=self.value,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def restore_items(store: BaseStore, items: list[Item]) -> bool:
    """Write ``items`` keeping their timestamps, in one commit. Returns False where the store
    cannot keep timestamps (then they carry the time of the import)."""
    writes: list[Write] = [RestoredItem(i, index=_index_fields(i)) for i in items]
    return port_for(store).commit([], writes).kept_timestamps


def _index_fields(item: Item) -> Literal[False] | list[str] | None:
    """Embed an item as its writer did: bookkeeping not at all, an episode by its text only."""
    if is_bookkeeping(item.namespace):
        return False
    if item.value.get("kind") == "Episode":
        return EPISODE_INDEX_FIELDS
    return None
