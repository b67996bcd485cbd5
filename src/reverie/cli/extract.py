"""Semantic extraction for the CLI: run a memory store manager over a conversation."""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore, Item

from reverie.cli import models
from reverie.cli.conversation import Message, conversation_id
from reverie.core.errors import ConfigurationError


def extract_memories(
    store: BaseStore,
    namespace: tuple[str, ...],
    messages: list[Message],
    model_spec: str,
    user: str,
) -> tuple[list[Item], int]:
    """Extract memories from ``messages`` into ``namespace``.

    Returns the memories now stored that the run wrote, and how many it removed. The
    conversation's content is its thread id, so a conversation seen before sends the model only
    what is new (nothing, when it is unchanged).
    """
    try:
        from reverie import (  # type: ignore[attr-defined,unused-ignore]
            create_memory_store_manager,
        )
    except ImportError as exc:
        raise ConfigurationError(
            f"Reverie's memory manager is not available in this installation ({exc})."
        ) from exc
    model = models.load_chat_model(model_spec)
    manager = create_memory_store_manager(model, namespace=namespace, store=store)
    written = manager.invoke(
        {"messages": conversation_turns(messages)},
        config={
            "configurable": {"langgraph_user_id": user, "thread_id": conversation_id(messages)}
        },
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


def conversation_turns(messages: list[Message]) -> list[dict[str, str]]:
    """What the model reads: the spoken turns. Tool calls and tool results are left out; they are
    the agent's machinery, and their ids do not survive a plain {"role", "content"} export."""
    roles = {"developer": "system"}
    return [
        {"role": roles.get(m.role, m.role), "content": m.content}
        for m in messages
        if m.role != "tool" and m.content.strip()
    ]


def _locate(entry: Any, namespace: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    if isinstance(entry, Item):
        return entry.key, tuple(entry.namespace)
    if isinstance(entry, dict):
        return entry.get("key"), tuple(entry.get("namespace") or namespace)
    key = getattr(entry, "key", None) or getattr(entry, "id", None)
    return (str(key) if key else None), namespace
