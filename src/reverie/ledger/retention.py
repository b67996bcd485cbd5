"""The store's retention policy, as Reverie's own writers apply it.

LangGraph's ``store.put`` gives an item the store's ``ttl_config["default_ttl"]`` when the caller
passes no ``ttl``; a raw ``PutOp`` with ``ttl=None`` never expires. Reverie's writers commit raw
``PutOp``s, so they resolve the default here and put it on every memory they write and on the
records they keep about it (audit trail, timeline), so nothing about a memory outlives it.

A read that restarts a memory's lifetime (``refresh_ttl``, LangGraph's ``refresh_on_read``)
restarts its time record's too when the read goes through Reverie's ledger (the manager, the
tools, the executors, the MCP server, the CLI's search): otherwise a memory kept alive by being read would outlive
its record and fall back to "true since first stored", losing the event time it was learnt
from. A read straight from the LangGraph store refreshes the memory only.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.store.base import BaseStore, GetOp, Item

from reverie.core.effects import Pipeline, StoreBatch
from reverie.core.namespace import RESERVED_ROOT
from reverie.core.ports import MemoryStorePort
from reverie.ledger.adapter import LockingStoreAdapter
from reverie.ledger.timeline import time_namespace


def store_default_ttl(store: BaseStore) -> float | None:
    """``store``'s default TTL in minutes; None when it has none or cannot expire items."""
    if not store.supports_ttl or not store.ttl_config:
        return None
    default = store.ttl_config.get("default_ttl")
    return float(default) if default is not None else None


def default_ttl(port: MemoryStorePort) -> float | None:
    """The default TTL of the store behind ``port`` (see :func:`store_default_ttl`); None for a
    port that is no LangGraph store (it has no retention policy to apply)."""
    store = _store_of(port)
    return store_default_ttl(store) if store is not None else None


def _store_of(port: MemoryStorePort) -> BaseStore | None:
    store = port.store if isinstance(port, LockingStoreAdapter) else port
    return store if isinstance(store, BaseStore) else None


def refreshes_records(port: MemoryStorePort, refresh_ttl: bool | None) -> bool:
    """Whether a read with ``refresh_ttl`` (None: the store's default) restarts lifetimes that
    the memories' time records must follow: the store expires items and has a TTL policy, or
    the caller asks for the refresh by name (an item can have its own ``ttl`` without one)."""
    store = _store_of(port)
    if store is None or not store.supports_ttl:
        return False
    if refresh_ttl is not None:
        return refresh_ttl
    # Without a TTL policy only items put with their own ttl expire; checking every read for
    # them would cost every user a read, so those records follow explicit refreshes only.
    config = store.ttl_config
    return config is not None and bool(config.get("refresh_on_read", True))


def refresh_time_records(
    port: MemoryStorePort, memories: Sequence[Item], refresh_ttl: bool | None
) -> Pipeline[None]:
    """Restart the time records' lifetimes of ``memories`` that a read with ``refresh_ttl``
    has just refreshed (a no-op when it refreshed nothing that expires)."""
    if not memories or not refreshes_records(port, refresh_ttl):
        return
    reads = [
        GetOp(time_namespace(tuple(m.namespace)), m.key, refresh_ttl=True)
        for m in memories
        if m.namespace and m.namespace[0] != RESERVED_ROOT
    ]
    if reads:
        yield from StoreBatch(port, reads)


__all__ = ["default_ttl", "refresh_time_records", "refreshes_records", "store_default_ttl"]
