"""Reading an optimizer's input: the prompt(s) to improve and the trajectories to learn from."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from reverie.core.errors import InputError
from reverie.extraction.messages import message_text, normalize_messages, role_of
from reverie.procedural.types import AnnotatedTrajectory

# A tool result or call argument longer than this is cut in the rendered trajectory: the
# optimizer needs what happened, not every byte of every tool output.
MAX_PART_CHARS = 2000


@dataclass(frozen=True)
class PromptToImprove:
    """The text of one prompt and what the optimizer may know about it."""

    text: str
    name: str = ""
    update_instructions: str = ""
    when_to_update: str = ""


def read_prompt(prompt: Any) -> PromptToImprove:
    if isinstance(prompt, str):
        return PromptToImprove(prompt)
    if isinstance(prompt, Mapping) and isinstance(prompt.get("prompt"), str):
        return PromptToImprove(
            prompt["prompt"],
            str(prompt.get("name") or ""),
            str(prompt.get("update_instructions") or ""),
            str(prompt.get("when_to_update") or ""),
        )
    raise InputError(
        "'prompt' must be the prompt text or a Prompt dict like "
        f"{{'name': 'assistant', 'prompt': '...'}}, got {type(prompt).__name__}."
    )


def _is_message(value: Any) -> bool:
    return isinstance(value, BaseMessage) or (
        isinstance(value, Mapping) and ("role" in value or "type" in value)
    )


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and len(value) > 0
        and all(_is_message(v) for v in value)
    )


def _one(entry: Any) -> AnnotatedTrajectory:
    if isinstance(entry, AnnotatedTrajectory):
        return entry
    if _is_messages(entry):
        return AnnotatedTrajectory(list(entry))
    if (
        isinstance(entry, (tuple, list))
        and len(entry) == 2
        and (_is_messages(entry[0]) or isinstance(entry[0], str))
    ):
        return AnnotatedTrajectory(entry[0], entry[1])
    raise InputError(
        f"Cannot read trajectory {entry!r:.120}: use AnnotatedTrajectory(messages, feedback), a "
        "(messages, feedback) pair or a list of messages."
    )


def read_trajectories(trajectories: Any) -> list[AnnotatedTrajectory] | str:
    """The trajectories as a list, or the caller's own text as given."""
    if trajectories is None:
        return []
    if isinstance(trajectories, str):
        return trajectories
    if isinstance(trajectories, AnnotatedTrajectory) or _is_messages(trajectories):
        return [_one(trajectories)]
    if isinstance(trajectories, tuple) and len(trajectories) == 2 and _is_messages(trajectories[0]):
        return [_one(trajectories)]
    if isinstance(trajectories, Sequence):
        return [_one(entry) for entry in trajectories]
    raise InputError(
        f"'trajectories' must be a list of (messages, feedback) pairs or a text, got "
        f"{type(trajectories).__name__}."
    )


def _cut(text: str) -> str:
    if len(text) <= MAX_PART_CHARS:
        return text
    return text[:MAX_PART_CHARS] + f" […{len(text) - MAX_PART_CHARS} characters cut]"


def _line(message: BaseMessage) -> str:
    text = message_text(message)
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = ", ".join(
            f"{c['name']}({_cut(json.dumps(c['args'], ensure_ascii=False, default=str))})"
            for c in message.tool_calls
        )
        text = f"{text}\n[called {calls}]" if text else f"[called {calls}]"
    return f"{role_of(message)}: {_cut(text)}"


def _feedback(feedback: Any) -> str:
    if feedback is None or feedback == "" or feedback == {}:
        return ""
    if isinstance(feedback, Mapping):
        return "\n".join(
            f"{key}: {value if isinstance(value, str) else json.dumps(value, default=str)}"
            for key, value in feedback.items()
        )
    return str(feedback)


def render_trajectories(trajectories: list[AnnotatedTrajectory] | str) -> str:
    """Each trajectory as ``role: text`` lines, then its feedback, numbered from 1. System
    messages are left out: they are the prompt being optimized, shown on its own."""
    if isinstance(trajectories, str):
        return trajectories.strip()
    parts = []
    for number, trajectory in enumerate(trajectories, start=1):
        if isinstance(trajectory.messages, str):
            body = trajectory.messages
        else:
            messages = normalize_messages(list(trajectory.messages)) if trajectory.messages else []
            body = "\n".join(_line(m) for m in messages if not isinstance(m, SystemMessage))
        part = f"<trajectory {number}>\n{body}\n</trajectory {number}>"
        feedback = _feedback(trajectory.feedback)
        if feedback:
            part += f"\n<feedback {number}>\n{feedback}\n</feedback {number}>"
        parts.append(part)
    return "\n\n".join(parts)
