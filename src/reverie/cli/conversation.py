"""Reading a conversation file: JSON (a list or ``{"messages": [...]}``) or JSONL lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from reverie.core.errors import InputError
from reverie.core.text import clean_text

Role = Literal["system", "user", "assistant", "tool", "developer"]


class Message(BaseModel):
    """One message in OpenAI chat format; extra fields (name, tool_call_id, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str
    name: str | None = None  # who spoke (OpenAI's ``name``); episodes fall back to the role
    created_at: Any = None  # when it was said: ISO 8601 text or epoch seconds (also ``timestamp``)
    timestamp: Any = None

    @field_validator("content", mode="before")
    @classmethod
    def _join_parts(cls, content: Any) -> Any:
        # OpenAI also allows a list of content parts (keep their text) and null content on an
        # assistant message that only calls tools (nothing to remember).
        if content is None:
            return ""
        if isinstance(content, list):
            return "\n".join(
                part.get("text", "") if isinstance(part, dict) else str(part) for part in content
            )
        return content

    @field_validator("content")
    @classmethod
    def _normalised(cls, content: str) -> str:
        return clean_text(content)  # the value policy: episodes are stored as read


def _parse(text: str, path: Path) -> list[Any]:
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{path} is empty; expected a JSON list of messages or JSONL lines.")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as first_error:
            if stripped[0] == "{" and "\n" in stripped:
                return _parse_lines(stripped, path)
            raise InputError(
                f"{path} is not valid JSON (line {first_error.lineno}, column "
                f"{first_error.colno}: {first_error.msg})."
            ) from first_error
        if isinstance(data, dict) and "messages" in data:
            data = data["messages"]
        if isinstance(data, dict):
            return [data]
        if not isinstance(data, list):
            raise InputError(f"{path} must hold a list of messages, got {type(data).__name__}.")
        return data
    return _parse_lines(stripped, path)


def _parse_lines(text: str, path: Path) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {number} is not valid JSON ({exc.msg}).") from exc
    return rows


def load_conversation(path: Path) -> list[Message]:
    """The messages in ``path``; an :class:`InputError` for anything that is not a conversation."""
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a .json or .jsonl conversation file.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text; expected JSON or JSONL.") from exc
    messages = []
    for number, row in enumerate(_parse(text, path), start=1):
        try:
            messages.append(Message.model_validate(row))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "message"
            raise InputError(
                f"{path}: message {number} is not an OpenAI chat message "
                f'({where}: {problem["msg"]}). Each message needs "role" and "content".'
            ) from exc
    if not messages:
        raise InputError(f"{path} holds no messages.")
    return messages


def conversation_id(messages: list[Message]) -> str:
    """A stable id of the conversation's content, so ingesting it again changes nothing."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(json.dumps([message.role, message.content]).encode())
    return digest.hexdigest()[:16]
