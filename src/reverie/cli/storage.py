"""Opening the store a command works on, and walking, finding and restoring its items."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, cast

from langgraph.store.base import BaseStore, IndexConfig, Item

from reverie.cli.episodes import EPISODE_INDEX_FIELDS
from reverie.cli.naming import describe_target, format_namespace, is_bookkeeping
from reverie.core.errors import ConfigurationError, InputError
from reverie.core.limits import Limits
from reverie.core.ports import NamespaceSearch, NativeStore, RestoredItem, Write
from reverie.ledger import port_for
from reverie.stores import open_store

_PAGE = 500


@contextlib.contextmanager
def opened_store(
    target: str | Path | None,
    *,
    index: IndexConfig | None = None,
    limits: Limits | None = None,
) -> Iterator[NativeStore]:
    """Open ``target`` (None: the default store) for one command and close it afterwards."""
    try:
        store = open_store(target, index=index, limits=limits)
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(
            f"Cannot open {describe_target(str(target) if target else None)}: {exc}"
        ) from exc
    try:
        yield store
    finally:
        store.close()


def namespaces_in(
    store: BaseStore,
    prefix: tuple[str, ...] = (),
    *,
    descendants: bool = True,
    internal: bool = False,
) -> list[tuple[str, ...]]:
    """Namespace ``prefix`` (and, with ``descendants``, those below it that hold items), without
    bookkeeping namespaces unless ``internal`` is set or ``prefix`` points into them."""
    if descendants:
        namespaces = store.list_namespaces(prefix=prefix or None, limit=1_000_000)
    else:
        namespaces = [prefix]
    keep_bookkeeping = internal or is_bookkeeping(prefix)
    return [tuple(ns) for ns in namespaces if keep_bookkeeping or not is_bookkeeping(ns)]


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
    for namespace in namespaces_in(store, prefix, descendants=descendants, internal=internal):
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
