"""Storing a conversation's turns as episodic memories, when no model is there to extract facts.

Each turn becomes ``{"kind": "Episode", "content": {"content": text, "role": ..., "conversation":
..., "turn": n}}``. ``content.content`` holds the text, as in every Reverie memory, so the same
index fields and readers work on episodes and on extracted memories. Keys are derived from the
conversation's content and the turn number: storing the same conversation twice adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item, PutOp

from reverie.cli.conversation import Message, conversation_id
from reverie.core.ports import Write
from reverie.ledger import port_for

# Only an episode's words are embedded, not the bookkeeping stored next to them.
EPISODE_INDEX_FIELDS = ["content.content"]
BATCH = 64
_KEY_SPACE = uuid.UUID("5b2f1d0e-6c1a-4f4e-9a57-3f1c2b7d8e90")


@dataclass
class EpisodeReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: int = 0  # turns with no text (tool calls, empty messages)


def episode_value(message: Message, conversation: str, turn: int) -> dict[str, Any]:
    return {
        "kind": "Episode",
        "content": {
            "content": message.content,
            "role": message.role,
            "conversation": conversation,
            "turn": turn,
        },
    }


def store_episodes(
    store: BaseStore,
    namespace: tuple[str, ...],
    messages: list[Message],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> EpisodeReport:
    """Store each turn with text as an episode; ``on_progress(n)`` after every ``n`` turns.

    Turns are written in batches: one read and one write per batch, so the embedder sees many
    texts at once and each batch is one transaction.
    """
    conversation = conversation_id(messages)
    report = EpisodeReport()
    for start in range(0, len(messages), BATCH):
        chunk = list(enumerate(messages[start : start + BATCH], start=start))
        wanted = {
            str(uuid.uuid5(_KEY_SPACE, f"{conversation}:{turn}")): episode_value(
                message, conversation, turn
            )
            for turn, message in chunk
            if message.role != "system" and message.content.strip()
        }
        report.skipped += len(chunk) - len(wanted)
        port = port_for(store)
        found = port.batch([GetOp(namespace, key) for key in wanted])
        puts: list[Write] = []
        for (key, value), existing in zip(wanted.items(), found, strict=True):
            if isinstance(existing, Item) and existing.value == value:
                report.unchanged.append(key)
            else:
                puts.append(PutOp(namespace, key, value, index=EPISODE_INDEX_FIELDS))
                report.added.append(key)
        if puts:
            port.commit([], puts)
        if on_progress is not None:
            on_progress(len(chunk))
    return report
