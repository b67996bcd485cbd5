"""Semantic extraction for the CLI: run a memory store manager over a conversation."""

from __future__ import annotations

from dataclasses import dataclass

from langgraph.store.base import BaseStore, Item

from reverie.cli import models
from reverie.cli.conversation import Message, conversation_id
from reverie.extraction.report import RunReport


@dataclass(frozen=True)
class Extraction:
    """What one extraction did: memories now stored, how many removed, and how the model ran."""

    stored: list[Item]
    removed: int
    report: RunReport
    mode: str  # the extraction mode used (or, when the model was not asked, the one it would be)


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
    done = extract(store, namespace, messages, model_spec, user)
    return done.stored, done.removed


def extract(
    store: BaseStore,
    namespace: tuple[str, ...],
    messages: list[Message],
    model_spec: str,
    user: str,
) -> Extraction:
    """:func:`extract_memories`, with the run's report and extraction mode."""
    from reverie.extraction.store_manager import create_memory_store_manager

    model = models.load_chat_model(model_spec)
    manager = create_memory_store_manager(
        model,
        namespace=namespace,
        store=store,
        extraction_mode=models.configured_extraction_mode(),  # type: ignore[arg-type]
    )
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
    mode = written.report.mode or manager.engine.policy.current
    return Extraction(stored, removed, written.report, mode)


def conversation_turns(messages: list[Message]) -> list[dict[str, str]]:
    """What the model reads: the spoken turns. Tool calls and tool results are left out; they are
    the agent's machinery, and their ids do not survive a plain {"role", "content"} export."""
    roles = {"developer": "system"}
    return [
        {"role": roles.get(m.role, m.role), "content": m.content}
        for m in messages
        if m.role != "tool" and m.content.strip()
    ]
