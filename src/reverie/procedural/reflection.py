"""The model calls of prompt optimization, as pipelines: a reflection loop (think and critique
until it answers), a single forced answer, and one correction of a rejected answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from reverie.core.effects import Invoke, Pipeline
from reverie.core.errors import ModelOutputError
from reverie.procedural import prompts


@dataclass
class Answer:
    """The arguments of the model's answer call, and the conversation that led to it (so a
    rejected answer can be sent back for correction)."""

    args: dict[str, Any]
    call_id: str
    transcript: list[BaseMessage] = field(default_factory=list)


def _name(tool: dict[str, Any]) -> str:
    return str(tool["function"]["name"])


def _answer_in(reply: Any, answer_tool: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    if not isinstance(reply, AIMessage):
        return None
    for call in reply.tool_calls:
        if call.get("name") == _name(answer_tool) and isinstance(call.get("args"), dict):
            return dict(call["args"]), str(call.get("id") or "")
    return None


def _continue(transcript: list[BaseMessage], reply: Any) -> None:
    """Append the reply and answer its tool calls, so the next call sees a valid exchange."""
    if not isinstance(reply, AIMessage):
        transcript.append(HumanMessage(prompts.REFLECT_NUDGE))
        return
    transcript.append(reply)
    for call in reply.tool_calls:
        transcript.append(ToolMessage(prompts.NOTED, tool_call_id=str(call.get("id") or "")))
    if not reply.tool_calls:
        transcript.append(HumanMessage(prompts.REFLECT_NUDGE))


def answer_once(
    model: BaseChatModel,
    transcript: list[BaseMessage],
    answer_tool: dict[str, Any],
    config: RunnableConfig | None,
) -> Pipeline[Answer]:
    """One call that must answer with ``answer_tool``."""
    bound = model.bind_tools([answer_tool], tool_choice=_name(answer_tool))
    reply = yield from Invoke(bound, transcript, config)
    found = _answer_in(reply, answer_tool)
    if found is None:
        raise ModelOutputError(
            f"The model did not call {_name(answer_tool)} when required to. Use a model that "
            "supports tool calling (and forced tool choice)."
        )
    return Answer(found[0], found[1], [*transcript, reply])


def reflect(
    model: BaseChatModel,
    request: str,
    answer_tool: dict[str, Any],
    *,
    max_steps: int,
    answer_from: int,
    config: RunnableConfig | None,
) -> Pipeline[Answer]:
    """Up to ``max_steps`` calls: think and critique only before step ``answer_from`` (counted
    from 0), then the answer is offered too, and the last step must answer."""
    transcript: list[BaseMessage] = [HumanMessage(request)]
    for step in range(max_steps - 1):
        tools = [prompts.THINK, prompts.CRITIQUE]
        if step >= answer_from:
            tools.append(answer_tool)
        reply = yield from Invoke(model.bind_tools(tools, tool_choice="any"), transcript, config)
        found = _answer_in(reply, answer_tool) if step >= answer_from else None
        if found is not None:
            return Answer(found[0], found[1], [*transcript, reply])
        _continue(transcript, reply)
    return (yield from answer_once(model, transcript, answer_tool, config))


def correct(
    model: BaseChatModel,
    answer: Answer,
    problem: str,
    answer_tool: dict[str, Any],
    config: RunnableConfig | None,
) -> Pipeline[Answer]:
    """Send a rejected answer back with the reason, and require a new one."""
    transcript = list(answer.transcript)
    reply = transcript[-1]
    if isinstance(reply, AIMessage):
        for call in reply.tool_calls:
            call_id = str(call.get("id") or "")
            text = f"Rejected: {problem}" if call_id == answer.call_id else prompts.NOTED
            transcript.append(ToolMessage(text, tool_call_id=call_id))
    if not answer.call_id:
        transcript.append(HumanMessage(f"Rejected: {problem}"))
    return (yield from answer_once(model, transcript, answer_tool, config))
