"""Normalising conversation input and rendering it compactly for the model."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import convert_to_messages

from reverie.core.errors import InputError
from reverie.core.text import clean_text, is_clean
from reverie.extraction.event_time import message_time

# Message ids become part of a thread's progress record: longer or unstorable ones are hashed,
# so the record stays small and storable whatever ids a caller sends.
MAX_ID_FINGERPRINT = 64

_ROLE_NAMES = {"human": "user", "ai": "assistant", "tool": "tool", "function": "tool"}


def normalize_messages(raw: Any) -> list[BaseMessage]:
    """Accept what LangChain accepts (dicts, tuples, strings, messages) and nothing that would crash later."""
    if raw is None:
        raise InputError(
            "No messages were given. Pass {'messages': [{'role': 'user', 'content': '...'}, ...]}."
        )
    if isinstance(raw, (str, BaseMessage, dict)):
        raw = [raw]
    if not isinstance(raw, Iterable):
        raise InputError(
            f"'messages' must be a list of messages, got {type(raw).__name__}. "
            "Pass a list of {'role': ..., 'content': ...} dicts or LangChain messages."
        )
    try:
        return list(convert_to_messages(list(raw)))
    except (ValueError, TypeError, NotImplementedError, KeyError) as exc:
        raise InputError(
            f"A message could not be read ({exc}). Each message must be a LangChain message, a "
            "{'role': 'user'|'assistant'|'system'|'tool', 'content': ...} dict or a (role, text) tuple."
        ) from exc


def message_text(message: BaseMessage) -> str:
    """The readable text of a message; non-text parts (images, audio, files) become short markers."""
    content = message.content
    if isinstance(content, str):
        return clean_text(content)
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type", "part")
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                parts.append(f"[{kind}]")
    return clean_text(" ".join(p for p in parts if p))


def role_of(message: BaseMessage) -> str:
    return _ROLE_NAMES.get(message.type, message.type)


def is_conversational(message: BaseMessage) -> bool:
    """System prompts belong to the agent, not the user; they are never mined for memories."""
    return not isinstance(message, SystemMessage)


@dataclass(frozen=True)
class RenderedMessage:
    """One message as the model will see it, with a fingerprint used for incremental processing
    and, when the message says so, when it was sent."""

    fingerprint: str
    line: str
    at: datetime | None = None

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.line)


def estimate_tokens(text: str) -> int:
    # Same estimate LangChain's count_tokens_approximately uses (about 4 characters a token).
    return (len(text) + 3) // 4


def render_messages(messages: list[BaseMessage]) -> list[RenderedMessage]:
    """Render conversational messages as ``role: text`` lines with stable fingerprints.

    A message's fingerprint is its id when it has one, else a hash of its role and text plus how many
    identical messages came before it, so two "ok"s in a thread stay distinct.
    """
    rendered: list[RenderedMessage] = []
    occurrences: dict[str, int] = {}
    for message in messages:
        if not is_conversational(message):
            continue
        text = message_text(message)
        if isinstance(message, AIMessage) and message.tool_calls and not text:
            text = clean_text("[called " + ", ".join(c["name"] for c in message.tool_calls) + "]")
        if isinstance(message, ToolMessage):
            text = text[:500]
        if not text.strip():
            continue
        role = role_of(message)
        if message.id:
            fingerprint = id_fingerprint(str(message.id))
        else:
            digest = hashlib.blake2b(
                f"{role}\x00{text}".encode("utf-8", "replace"), digest_size=8
            ).hexdigest()
            seen = occurrences.get(digest, 0)
            occurrences[digest] = seen + 1
            fingerprint = digest if seen == 0 else f"{digest}#{seen}"
        rendered.append(RenderedMessage(fingerprint, f"{role}: {text}", message_time(message)))
    return rendered


def id_fingerprint(message_id: str) -> str:
    """The fingerprint of a message with an id: the id itself, or a hash of a long or
    unstorable one (NUL characters, lone surrogates)."""
    if len(message_id) <= MAX_ID_FINGERPRINT and is_clean(message_id):
        return "id:" + message_id
    digest = hashlib.blake2b(message_id.encode("utf-8", "surrogatepass"), digest_size=16)
    return "id#" + digest.hexdigest()
