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

from langgraph.store.base import BaseStore

from reverie.cli.conversation import Message, conversation_id

# Only an episode's words are embedded, not the bookkeeping stored next to them.
EPISODE_INDEX_FIELDS = ["content.content"]
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
    on_turn: Callable[[], None] | None = None,
) -> EpisodeReport:
    conversation = conversation_id(messages)
    report = EpisodeReport()
    for turn, message in enumerate(messages):
        if message.role == "system" or not message.content.strip():
            report.skipped += 1
        else:
            key = str(uuid.uuid5(_KEY_SPACE, f"{conversation}:{turn}"))
            value = episode_value(message, conversation, turn)
            existing = store.get(namespace, key)
            if existing is not None and existing.value == value:
                report.unchanged.append(key)
            else:
                store.put(namespace, key, value, index=EPISODE_INDEX_FIELDS)
                report.added.append(key)
        if on_turn is not None:
            on_turn()
    return report
