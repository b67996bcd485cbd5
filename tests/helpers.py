"""Helpers for scripting the extraction model in tests."""

from __future__ import annotations

import re

from reverie.testing import ScriptedRequest

_SHOWN = re.compile(r"^\[(\w+)\] (.*)$", re.MULTILINE)


def shown_memories(request: ScriptedRequest) -> dict[str, str]:
    """alias -> rendered memory text, as listed under "Stored memories" in the last human message."""
    human = [m for m in request.messages if m.type == "human"]
    if not human:
        return {}
    text = human[0].text
    section = text.split("Stored memories:", 1)[-1].split("\n\n", 1)[0]
    return dict(_SHOWN.findall(section))


def alias_of(request: ScriptedRequest, needle: str) -> str:
    for alias, text in shown_memories(request).items():
        if needle in text:
            return alias
    raise AssertionError(f"{needle!r} not among shown memories {shown_memories(request)}")


def new_conversation(request: ScriptedRequest) -> str:
    human = [m for m in request.messages if m.type == "human"]
    return human[0].text.split("New conversation:", 1)[-1] if human else ""


def contents(items) -> list[str]:
    return sorted(i.value["content"]["content"] for i in items)
