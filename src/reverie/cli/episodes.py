"""Storing a conversation's turns as episodic memories, when no model is there to extract facts.

Each turn becomes ``{"kind": "Episode", "content": {...}, "context": {...}}``:

- ``content``: ``content`` (the words, as in every Reverie memory, so the same readers work on
  episodes and on extracted memories), ``role``, ``speaker`` (the message's ``name``, else its
  role), ``conversation`` (the episode), ``turn`` (its position) and, when the message says
  when it was said, ``time`` (ISO 8601, UTC). Hybrid search reads episode, position and speaker
  (``reverie.EpisodeFields``).
- ``context``: what the turn is indexed with besides its words. ``for_embedding`` is the turn
  with its date and the turn before it (a reply such as "Yes, last Friday!" means little
  alone), embedded beside the words themselves; ``neighbours`` holds the turns before and
  after it, and ``when`` the day it was said ("3 June 2023"), for keyword search only: a
  question naming a day finds that day's turns by their words, which the embedding alone
  matches poorly. On LoCoMo's tuning half this context raised recall@10 from 0.64 to 0.80,
  0.78 without ``when`` (``benchmarks/locomo_retrieval.py``).

Keys are derived from the conversation's content and the turn number: storing the same
conversation twice adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langgraph.store.base import BaseStore, GetOp, Item, PutOp

from reverie.cli.conversation import Message, conversation_id
from reverie.core.dates import as_datetime
from reverie.core.indexing import IndexFields
from reverie.core.ports import Write
from reverie.ledger import port_for
from reverie.ledger.retention import default_ttl

# An episode has two vectors, its own words and its dated turn after the one before; it scores
# the better of the two, so context can only help it. Keyword search also sees the turn after
# it. On LoCoMo's tuning half both vectors beat the context one alone (R@5 0.704 vs 0.702), and
# the answer's score is never diluted by a long previous turn. Bookkeeping is indexed by neither.
EPISODE_INDEX_FIELDS = IndexFields(
    ["content.content", "context.for_embedding"],
    keywords=["content.speaker", "content.content", "context.neighbours", "context.when"],
)
BATCH = 64
_KEY_SPACE = uuid.UUID("5b2f1d0e-6c1a-4f4e-9a57-3f1c2b7d8e90")


@dataclass
class EpisodeReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: int = 0  # turns with no text (tool calls, empty messages)


def spoken(message: Message) -> bool:
    """Whether a message is a turn worth storing (not a system prompt, not empty)."""
    return message.role != "system" and bool(message.content.strip())


def said_at(message: Message) -> datetime | None:
    return as_datetime(message.created_at) or as_datetime(message.timestamp)


def speaker_of(message: Message) -> str:
    return (message.name or "").strip() or message.role


def _line(message: Message) -> str:
    return f"{speaker_of(message)}: {message.content}"


def episode_value(
    message: Message,
    conversation: str,
    turn: int,
    before: Message | None = None,
    after: Message | None = None,
) -> dict[str, Any]:
    """The stored value of turn ``turn``; ``before`` / ``after``: the turns around it."""
    when = said_at(message)
    content: dict[str, Any] = {
        "content": message.content,
        "role": message.role,
        "speaker": speaker_of(message),
        "conversation": conversation,
        "turn": turn,
    }
    if when is not None:
        content["time"] = when.isoformat()
    dated = f"{when:%d %B %Y}: " if when is not None else ""
    earlier = f"{_line(before)}\n" if before is not None else ""
    context = {
        "for_embedding": f"{dated}{earlier}{_line(message)}",
        "neighbours": "\n".join(_line(m) for m in (before, after) if m is not None),
    }
    if when is not None:
        # The day as questions name it ("on 3 June, 2023"): no leading zero.
        context["when"] = f"{when.day} {when:%B %Y}"
    return {"kind": "Episode", "content": content, "context": context}


def episode_values(messages: list[Message]) -> dict[int, dict[str, Any]]:
    """Turn number -> stored value, for every turn worth storing."""
    conversation = conversation_id(messages)
    turns = [n for n, message in enumerate(messages) if spoken(message)]
    values: dict[int, dict[str, Any]] = {}
    for i, n in enumerate(turns):
        before = messages[turns[i - 1]] if i > 0 else None
        after = messages[turns[i + 1]] if i + 1 < len(turns) else None
        values[n] = episode_value(messages[n], conversation, n, before, after)
    return values


def episode_key(conversation: str, turn: int) -> str:
    return str(uuid.uuid5(_KEY_SPACE, f"{conversation}:{turn}"))


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
    values = episode_values(messages)
    report = EpisodeReport()
    port = port_for(store)
    ttl = default_ttl(port)  # conversation turns follow the store's retention policy
    for start in range(0, len(messages), BATCH):
        turns = range(start, min(start + BATCH, len(messages)))
        wanted = {episode_key(conversation, n): values[n] for n in turns if n in values}
        report.skipped += len(turns) - len(wanted)
        found = port.batch([GetOp(namespace, key) for key in wanted])
        puts: list[Write] = []
        for (key, value), existing in zip(wanted.items(), found, strict=True):
            if isinstance(existing, Item) and existing.value == value:
                report.unchanged.append(key)
            else:
                puts.append(PutOp(namespace, key, value, index=EPISODE_INDEX_FIELDS, ttl=ttl))
                report.added.append(key)
        if puts:
            port.commit([], puts)
        if on_progress is not None:
            on_progress(len(turns))
    return report
