"""Building test conversations: turns with parallel tool calls, images, system messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from reverie.testing import ScriptedChatModel, ScriptedRequest
from tests.short_term.validator import check_openai_sequence

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@dataclass
class Builder:
    """Appends messages with unique ids; ``turns`` marks where an agent would call its model."""

    messages: list[BaseMessage] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)

    def _id(self, kind: str) -> str:
        return f"{kind}{len(self.messages)}"

    def system(self, text: str) -> None:
        self.messages.append(SystemMessage(text, id=self._id("s")))

    def human(self, text: str, image: bool = False) -> None:
        content: Any = [{"type": "text", "text": text}, IMAGE] if image else text
        self.messages.append(HumanMessage(content=content, id=self._id("h")))
        self.turns.append(len(self.messages))

    def ai(self, text: str) -> None:
        self.messages.append(AIMessage(text, id=self._id("a")))

    def tools(self, results: list[str], reverse: bool = False) -> None:
        """One assistant message calling ``len(results)`` tools at once, then the results."""
        prefix = self._id("c")
        calls = [
            {"name": "lookup", "args": {"n": n}, "id": f"{prefix}-{n}", "type": "tool_call"}
            for n in range(len(results))
        ]
        self.messages.append(AIMessage("", tool_calls=calls, id=self._id("a")))
        order = list(range(len(results)))
        for n in reversed(order) if reverse else order:
            self.messages.append(
                ToolMessage(results[n], tool_call_id=f"{prefix}-{n}", id=self._id("t"))
            )
        self.turns.append(len(self.messages))


WORDS = st.text(alphabet="abcdefghij ", min_size=1, max_size=160)


@st.composite
def conversations(draw: st.DrawFn) -> Builder:
    builder = Builder()
    if draw(st.booleans()):
        builder.system(draw(WORDS))
    builder.human(draw(WORDS), image=draw(st.booleans()))
    for _ in range(draw(st.integers(1, 9))):
        step = draw(st.sampled_from(["human", "ai", "tools", "system"]))
        if step == "human":
            builder.ai(draw(WORDS))
            builder.human(draw(WORDS), image=draw(st.integers(0, 4)) == 0)
        elif step == "ai":
            builder.ai(draw(WORDS))
            builder.human(draw(WORDS))
        elif step == "tools":
            results = draw(st.lists(WORDS, min_size=1, max_size=3))
            builder.tools(results, reverse=draw(st.booleans()))
        else:
            builder.ai(draw(WORDS))
            builder.system(draw(WORDS))
            builder.human(draw(WORDS))
    return builder


class CheckingSummarizer:
    """A scripted summarization model that checks every request it gets and remembers which
    conversation messages it was shown."""

    def __init__(self, conversation_ids: set[str]) -> None:
        self.conversation_ids = conversation_ids
        self.shown: list[str] = []
        self.model = ScriptedChatModel(responder=self.respond)

    def respond(self, request: ScriptedRequest) -> str:
        check_openai_sequence(request.messages)
        self.shown.extend(m.id for m in request.messages if m.id in self.conversation_ids)
        return f"S{len(self.model.calls)}"
