"""The store's retention policy, as Reverie's own writers apply it.

LangGraph's ``store.put`` gives an item the store's ``ttl_config["default_ttl"]`` when the caller
passes no ``ttl``; a raw ``PutOp`` with ``ttl=None`` never expires. Reverie's writers commit raw
``PutOp``s, so they resolve the default here and put it on every memory they write and on the
records they keep about it (audit trail, timeline), so nothing about a memory outlives it.
"""

from __future__ import annotations

from langgraph.store.base import BaseStore

from reverie.core.ports import MemoryStorePort
from reverie.ledger.adapter import LockingStoreAdapter


def store_default_ttl(store: BaseStore) -> float | None:
    """``store``'s default TTL in minutes; None when it has none or cannot expire items."""
    if not store.supports_ttl or not store.ttl_config:
        return None
    default = store.ttl_config.get("default_ttl")
    return float(default) if default is not None else None


def default_ttl(port: MemoryStorePort) -> float | None:
    """The default TTL of the store behind ``port`` (see :func:`store_default_ttl`); None for a
    port that is no LangGraph store (it has no retention policy to apply)."""
    store = port.store if isinstance(port, LockingStoreAdapter) else port
    return store_default_ttl(store) if isinstance(store, BaseStore) else None


__all__ = ["default_ttl", "store_default_ttl"]
