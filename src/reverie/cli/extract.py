"""Semantic extraction for the CLI: run a memory store manager over a conversation."""

from __future__ import annotations

from langgraph.store.base import BaseStore, Item

from reverie.cli import models
from reverie.cli.conversation import Message, conversation_id


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
    from reverie.extraction.store_manager import create_memory_store_manager

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
    for entry in written:
        item = store.get(tuple(entry["namespace"]), str(entry["key"]))
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
