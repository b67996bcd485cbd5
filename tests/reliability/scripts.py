"""Scripted model behaviours shared by the reliability tests: pure functions of the request."""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage

from reverie.testing import ScriptedRequest, tool_call
from tests.helpers import new_conversation, shown_memories

TOKEN = re.compile(r"\bTOKEN-[\w-]+\b")
LEDGER = "ledger:"


def tokens_in(text: str) -> list[str]:
    return TOKEN.findall(text)


def note_token_and_extend_ledger(request: ScriptedRequest) -> AIMessage | list[dict]:
    """Insert "token X" for the conversation's token and append X to the shown ledger memory.

    Decisions depend only on what the request shows, so a run that re-reads after a conflict makes
    the right decision for the memories as they are now.
    """
    shown = shown_memories(request)
    calls: list[dict] = []
    for token in tokens_in(new_conversation(request)):
        if f"token {token}" not in shown.values():
            calls.append(tool_call("Memory", {"content": f"token {token}"}))
        for alias, text in shown.items():
            if text.startswith(LEDGER) and token not in text.split():
                calls.append(
                    tool_call("Memory", {"content": f"{text} {token}", "memory_id": alias})
                )
    return calls or AIMessage(content="")
