"""Helpers for scripting the extraction model in tests."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable
from typing import Any, TypeGuard

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langgraph.store.base import Item

from reverie.testing import ScriptedChatModel, ScriptedRequest

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


def all_floats(scores: list[float | None]) -> TypeGuard[list[float]]:
    """Whether every score is a float: every result was ranked."""
    return all(isinstance(s, float) for s in scores)


def contents(items: Iterable[Item]) -> list[str]:
    return sorted(i.value["content"]["content"] for i in items)


class GatedChatModel(ScriptedChatModel):
    """A scripted model whose calls wait on ``gate`` (a ``threading.Event`` or ``Barrier``)
    before answering: tests observe concurrency through events, never through timings."""

    gate: Any = None

    def _wait(self) -> None:
        if isinstance(self.gate, threading.Barrier):
            self.gate.wait(timeout=20)  # raises BrokenBarrierError unless all parties arrive
        elif self.gate is not None and not self.gate.wait(timeout=20):
            raise TimeoutError("the test never opened the model's gate")

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:  # fmt: skip
        self._wait()
        return super()._generate(messages, stop, run_manager, **kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:  # fmt: skip
        # Waiting in a thread keeps the event loop free for the other calls that must arrive.
        await asyncio.to_thread(self._wait)
        return await super()._agenerate(messages, stop, run_manager, **kwargs)
