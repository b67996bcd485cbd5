"""Semantic extraction for the CLI: run a memory store manager over a conversation."""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore, Item

from reverie.cli.conversation import Message
from reverie.cli.models import load_chat_model
from reverie.core.errors import ConfigurationError


def extract_memories(
    store: BaseStore,
    namespace: tuple[str, ...],
    messages: list[Message],
    model_spec: str,
    user: str,
) -> tuple[list[Item], int]:
    """Extract memories from ``messages`` into ``namespace``.

    Returns the memories now stored that the run wrote, and how many it removed.
    """
    try:
        from reverie import (  # type: ignore[attr-defined,unused-ignore]
            create_memory_store_manager,
        )
    except ImportError as exc:
        raise ConfigurationError(
            f"Reverie's memory manager is not available in this installation ({exc})."
        ) from exc
    model = load_chat_model(model_spec)
    manager = create_memory_store_manager(model, namespace=namespace, store=store)
    written = manager.invoke(
        {"messages": [m.model_dump() for m in messages]},
        config={"configurable": {"langgraph_user_id": user}},
    )
    stored: list[Item] = []
    removed = 0
    for entry in written or []:
        key, where = _locate(entry, namespace)
        item = store.get(where, key) if key else None
        if item is None:
            removed += 1
        else:
            stored.append(item)
    return stored, removed


def _locate(entry: Any, namespace: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    if isinstance(entry, Item):
        return entry.key, tuple(entry.namespace)
    if isinstance(entry, dict):
        return entry.get("key"), tuple(entry.get("namespace") or namespace)
    key = getattr(entry, "key", None) or getattr(entry, "id", None)
    return (str(key) if key else None), namespace
