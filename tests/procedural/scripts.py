"""Scripted optimizer models: reply by which tools the optimizer offers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage

from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.short_term.validator import check_openai_sequence


def call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[tool_call(name, args)])


def optimizer_model(
    *,
    improved: str | list[str] = "",
    think_first: int = 0,
    warrants: bool = True,
    choose: list[Any] | None = None,
) -> ScriptedChatModel:
    """Thinks ``think_first`` times when it may, then answers whatever is asked: the diagnosis
    (``warrants``), the improved prompt (successive answers from ``improved``), or which prompts
    to update (successive answers from ``choose``)."""
    answers = [improved] if isinstance(improved, str) else list(improved)
    choices = list(choose or [])
    thoughts = [think_first]

    def respond(request: ScriptedRequest) -> AIMessage:
        check_openai_sequence(request.messages)
        names = request.tool_names
        if "think" in names and thoughts[0] > 0:
            thoughts[0] -= 1
            return call("think", thought="The answers were too long.")
        if "choose_prompts" in names:
            which = choices.pop(0) if len(choices) > 1 else choices[0]
            return call("choose_prompts", reasoning="Feedback is about summaries.", which=which)
        if "recommend" in names:
            return call(
                "recommend",
                warrants_adjustment=warrants,
                hypotheses="The prompt never asks for brevity.",
                full_recommendations="Add: answer in two sentences.",
            )
        if "update_prompt" in names:
            text = answers.pop(0) if len(answers) > 1 else answers[0]
            return call("update_prompt", analysis="Too long.", improved_prompt=text)
        return call("think", thought="...")

    return ScriptedChatModel(responder=respond)


Responder = Callable[[ScriptedRequest], AIMessage]
