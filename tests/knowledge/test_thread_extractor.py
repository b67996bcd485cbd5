"""create_thread_extractor: a conversation into one structured record."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from reverie import (
    ConfigurationError,
    InputError,
    ModelOutputError,
    SummarizeThread,
    create_thread_extractor,
)
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call

MESSAGES = [
    {"role": "user", "content": "Hi, I'm having trouble with my account"},
    {"role": "assistant", "content": "I'd be happy to help. What seems to be the issue?"},
    {"role": "user", "content": "I can't reset my password"},
]


def summary_reply(request: ScriptedRequest) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            tool_call(
                "SummarizeThread",
                {"title": "Password Reset Assistance", "summary": "User cannot reset a password."},
            )
        ],
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_default_schema_gives_title_and_summary(mode: str) -> None:
    model = ScriptedChatModel(responder=summary_reply)
    summarizer = create_thread_extractor(model)
    if mode == "sync":
        summary = summarizer.invoke({"messages": MESSAGES})
    else:
        summary = asyncio.run(summarizer.ainvoke({"messages": MESSAGES}))
    assert isinstance(summary, SummarizeThread)
    assert summary.title == "Password Reset Assistance"
    (call,) = model.calls
    assert call.request.tool_names == ["SummarizeThread"]
    assert "user: I can't reset my password" in call.request.text


class Ticket(BaseModel):
    """A support ticket for the conversation."""

    product: str
    severity: int


def test_custom_schema_and_template_values_in_the_instructions() -> None:
    model = ScriptedChatModel(
        responder=lambda r: tool_call("Ticket", {"product": "accounts", "severity": 2})
    )
    extractor = create_thread_extractor(
        model,
        schema=Ticket,
        instructions="File a ticket for team {team}. Keep {braces} as they are.",
    )
    ticket = extractor.invoke({"messages": MESSAGES, "team": "identity"})
    assert ticket == Ticket(product="accounts", severity=2)
    system = model.calls[0].request.messages[0].text
    assert system == "File a ticket for team identity. Keep {braces} as they are."


class Topic(TypedDict):
    topic: str


def test_typed_dict_schema_gives_a_dict() -> None:
    model = ScriptedChatModel(responder=lambda r: tool_call("Topic", {"topic": "passwords"}))
    assert create_thread_extractor(model, schema=Topic).invoke({"messages": MESSAGES}) == {
        "topic": "passwords"
    }


def test_an_invalid_reply_is_corrected_once() -> None:
    model = ScriptedChatModel(
        replies=[
            AIMessage(content="", tool_calls=[tool_call("Ticket", {"product": "x"}, id="c1")]),
            AIMessage(
                content="", tool_calls=[tool_call("Ticket", {"product": "x", "severity": 1})]
            ),
        ]
    )
    assert create_thread_extractor(model, schema=Ticket).invoke(MESSAGES) == Ticket(
        product="x", severity=1
    )
    retry = model.calls[1].request.messages
    assert retry[-2].type == "tool" and "severity" in retry[-2].text


def test_a_model_that_never_complies_raises() -> None:
    model = ScriptedChatModel(replies=["I'd rather chat."])
    with pytest.raises(ModelOutputError, match="valid Ticket"):
        create_thread_extractor(model, schema=Ticket).invoke({"messages": MESSAGES})
    assert len(model.calls) == 2


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="pydantic model class"):
        create_thread_extractor(ScriptedChatModel(), schema=42)  # type: ignore[arg-type]  # deliberately wrong type
    with pytest.raises(ConfigurationError, match="'title'"):
        create_thread_extractor(ScriptedChatModel(), schema={"properties": {}})
    with pytest.raises(InputError, match="no messages with text"):
        create_thread_extractor(ScriptedChatModel()).invoke({"messages": []})
