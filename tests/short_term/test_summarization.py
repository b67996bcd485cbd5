"""summarize_messages / asummarize_messages / SummarizationNode, including the cases LangMem's
users reported: tool calls split from their results, the latest question summarized away, and
messages summarized again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.prompts import ChatPromptTemplate

from reverie import ConfigurationError, InputError, ModelOutputError
from reverie.short_term import (
    RunningSummary,
    SummarizationNode,
    asummarize_messages,
    summarize_messages,
)
from reverie.testing import ScriptedChatModel
from tests.short_term.conversations import Builder, CheckingSummarizer
from tests.short_term.validator import InvalidSequence, check_openai_sequence


def parallel_tools_conversation() -> Builder:
    """Two human turns with parallel tool calls (results out of order), and a tool exchange
    after the latest human message, as in an agent's tool loop."""
    b = Builder()
    b.system("You are a travel agent.")
    b.human("Find me flights and hotels in Lisbon for May.")
    b.tools(
        ["flight TP123 at 9:00, 240 EUR", "hotel Alfama, 95 EUR a night", "rain likely"],
        reverse=True,
    )
    b.ai("TP123 leaves at 9:00; the Alfama hotel is 95 EUR a night.")
    b.human("Book both, and check the museum opening hours.")
    b.tools(["booked TP123", "booked Alfama"])
    b.ai("Both are booked.")
    b.human("What about the museum?")
    b.tools(["Gulbenkian: 10:00-18:00, closed Tuesdays", "Tile museum: 10:00-18:00"])
    return b


def texts(messages: Sequence[BaseMessage]) -> list[str]:
    return [str(m.id) for m in messages]


def test_parallel_tool_calls_summarized_at_every_possible_cut_stay_valid() -> None:
    b = parallel_tools_conversation()
    messages = b.messages
    check_openai_sequence(messages)
    body = messages[1:]
    latest = [m for m in body if isinstance(m, HumanMessage)][-1]
    rest = [m for m in body if m is not latest]  # what may be summarized, oldest first
    per_message = [count_tokens_approximately([m]) for m in rest]
    chosen: set[int] = set()
    for position in range(1, len(rest) + 1):
        summarizer = CheckingSummarizer({str(m.id) for m in messages})
        # Reach the threshold exactly after `position` messages, with room for everything kept.
        result = summarize_messages(
            messages,
            running_summary=None,
            model=summarizer.model,
            max_tokens=10_000,
            max_tokens_before_summary=sum(per_message[:position]),
            max_summary_tokens=50,
        )
        check_openai_sequence(result.messages)  # the summarizer's requests were checked too
        assert result.running_summary is not None
        summarized = result.running_summary.summarized_message_ids
        cut = len(summarized)
        assert summarized == {m.id for m in rest[:cut]}  # the oldest ones, nothing skipped
        assert cut >= position
        chosen.add(cut)
        assert latest in result.messages
        assert result.messages[0] is messages[0]
    # Every place where a split is allowed was used by some threshold, and no other place.
    inside_a_group = {p for p, m in enumerate(rest) if isinstance(m, ToolMessage)}
    assert len(inside_a_group) == 7
    assert chosen == set(range(1, len(rest) + 1)) - inside_a_group


def test_validator_rejects_a_split_group() -> None:
    b = parallel_tools_conversation()
    with pytest.raises(InvalidSequence):
        check_openai_sequence(b.messages[3:])
    with pytest.raises(InvalidSequence):
        check_openai_sequence(b.messages[:4])


def test_a_tool_result_crossing_the_threshold_takes_its_whole_group_along() -> None:
    """LangMem #126: the first of two parallel results crosses the threshold; LangMem kept the
    second result without its call."""
    messages: list[BaseMessage] = [
        HumanMessage("Generate two long random strings", id="id1"),
        AIMessage(
            "Using rand_string for this",
            id="id2",
            tool_calls=[
                {"name": "rand_string", "args": {"len": 5000}, "id": "1", "type": "tool_call"},
                {"name": "rand_string", "args": {"len": 200}, "id": "2", "type": "tool_call"},
            ],
        ),
        ToolMessage("x" * 5000, tool_call_id="1", id="id3"),
        ToolMessage("y" * 200, tool_call_id="2", id="id4"),
        AIMessage("Generated the two random strings.", id="id5"),
        HumanMessage("Can you explain the generation algorithm?", id="id6"),
    ]
    summarizer = CheckingSummarizer({str(m.id) for m in messages})
    result = summarize_messages(
        messages,
        running_summary=None,
        model=summarizer.model,
        max_tokens=1000,
        max_summary_tokens=100,
    )
    check_openai_sequence(result.messages)
    assert texts(result.messages)[-1] == "id6"
    assert {"id2", "id3", "id4"} <= set(summarizer.shown)


def test_the_latest_question_survives_a_tool_loop() -> None:
    """LangMem #77 and #111: after a tool call the latest human message was summarized away and
    the model got only system messages."""
    b = Builder()
    b.human("Tell me everything about the Lisbon earthquake of 1755. " * 3)
    b.tools(["A long encyclopedia article. " * 40])
    summarizer = CheckingSummarizer({str(m.id) for m in b.messages})
    result = summarize_messages(
        b.messages,
        running_summary=None,
        model=summarizer.model,
        max_tokens=120,
        max_summary_tokens=40,
    )
    assert [m.type for m in result.messages] == ["system", "human"]
    assert result.messages[1] is b.messages[0]
    assert summarizer.shown == ["a1", "t2"]


def test_each_message_is_summarized_once_and_the_summary_is_extended() -> None:
    summarizer = CheckingSummarizer(set())
    b = Builder()
    running: RunningSummary | None = None
    for turn in range(8):
        b.human(f"Turn {turn}: here is a longer remark about my garden and my cat. " * 2)
        b.ai(f"Noted, turn {turn}.")
        summarizer.conversation_ids = {str(m.id) for m in b.messages}
        result = summarize_messages(
            b.messages,
            running_summary=running,
            model=summarizer.model,
            max_tokens=200,
            max_tokens_before_summary=150,
            max_summary_tokens=40,
        )
        running = result.running_summary or running
    assert running is not None
    assert len(summarizer.shown) == len(set(summarizer.shown)) > 4
    # Every call after the first extended the summary it had, not the whole conversation.
    requests = [call.request for call in summarizer.model.calls]
    assert "Summary of the earlier conversation" not in requests[0].text
    for number, request in enumerate(requests[1:], start=1):
        assert f"S{number - 1}" in request.text  # the summary the previous call returned


def test_sync_and_async_make_the_same_calls_and_results() -> None:
    b = parallel_tools_conversation()
    sync_model = ScriptedChatModel(replies=["summary"])
    async_model = ScriptedChatModel(replies=["summary"])
    options: dict[str, Any] = {"max_tokens": 150, "max_summary_tokens": 30}
    sync = summarize_messages(b.messages, running_summary=None, model=sync_model, **options)
    concurrent = asyncio.run(
        asummarize_messages(b.messages, running_summary=None, model=async_model, **options)
    )
    assert [c.request.messages for c in sync_model.calls] == [
        c.request.messages for c in async_model.calls
    ]
    assert sync.running_summary == concurrent.running_summary
    assert [m.content for m in sync.messages] == [m.content for m in concurrent.messages]


def test_a_long_backlog_is_summarized_in_calls_that_each_fit_max_tokens() -> None:
    b = Builder()
    for turn in range(30):
        b.human(f"Message {turn} about the project plan and its many details.")
        b.ai(f"Reply {turn}.")
    summarizer = CheckingSummarizer({str(m.id) for m in b.messages})
    result = summarize_messages(
        b.messages,
        running_summary=None,
        model=summarizer.model,
        max_tokens=100,
        max_summary_tokens=20,
    )
    assert len(summarizer.model.calls) > 3
    assert all(call.input_tokens <= 100 for call in summarizer.model.calls)
    assert result.running_summary is not None
    assert len(result.running_summary.summarized_message_ids) == len(set(summarizer.shown))
    assert count_tokens_approximately(result.messages) <= 100


def test_messages_without_ids_are_recognised_on_the_next_call() -> None:
    """Plain dicts have no ids: they are recognised by content (and by occurrence for repeated
    texts such as "ok"), so passing the whole history again summarizes nothing twice."""
    history: list[Any] = []
    model = ScriptedChatModel(replies=["summary"])
    running: RunningSummary | None = None
    for turn in range(6):
        history += [
            {"role": "user", "content": f"question {turn} " * 10},
            {"role": "assistant", "content": "ok"},
        ]
        result = summarize_messages(
            history, running_summary=running, model=model, max_tokens=90, max_summary_tokens=20
        )
        running = result.running_summary or running
    sent = [str(m.content) for c in model.calls for m in c.request.messages[:-1]]
    questions = [text for text in sent if text.startswith("question")]
    assert len(questions) == len(set(questions)) >= 3
    # The answer after the latest (kept) question may be summarized too.
    assert len(questions) <= sent.count("ok") <= len(questions) + 1
    assert running is not None
    assert len(running.summarized_message_ids) == len(sent)


def test_no_summary_below_the_threshold_and_system_message_first() -> None:
    model = ScriptedChatModel(replies=["never"])
    messages = [SystemMessage("sys"), HumanMessage("hi"), AIMessage("hello")]
    result = summarize_messages(messages, running_summary=None, model=model, max_tokens=1000)
    assert result.messages == messages
    assert result.running_summary is None
    assert model.calls == []


def test_custom_prompts_are_used() -> None:
    model = ScriptedChatModel(replies=["short"])
    b = parallel_tools_conversation()
    result = summarize_messages(
        b.messages,
        running_summary=None,
        model=model,
        max_tokens=200,
        max_summary_tokens=20,
        initial_summary_prompt=ChatPromptTemplate.from_messages(
            [("placeholder", "{messages}"), ("user", "Résume.")]
        ),
        final_prompt=ChatPromptTemplate.from_messages(
            [
                ("placeholder", "{system_message}"),
                ("user", "Before: {summary}"),
                ("placeholder", "{messages}"),
            ]
        ),
    )
    assert model.calls[0].request.messages[-1].content == "Résume."
    assert any(m.content == "Before: short" for m in result.messages)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_tokens": 100, "max_summary_tokens": 100}, "must be less than max_tokens"),
        ({"max_tokens": -1}, "whole number of tokens"),
        ({"max_tokens": 100, "max_tokens_before_summary": 0}, "positive number"),
        ({"max_tokens": 100, "token_counter": 3}, "token_counter must be a function"),
        (
            {
                "max_tokens": 100,
                "max_summary_tokens": 10,
                "final_prompt": ChatPromptTemplate.from_messages([("user", "{x}")]),
            },
            "variables \\['x'\\]",
        ),
        (
            {"max_tokens": 100, "max_summary_tokens": 10, "initial_summary_prompt": "Summarize"},
            "ChatPromptTemplate",
        ),
    ],
)
def test_bad_settings_raise_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        summarize_messages([], running_summary=None, model=ScriptedChatModel(), **options)


def test_max_summary_tokens_error_is_also_a_value_error_like_langmem() -> None:
    with pytest.raises(ValueError):
        SummarizationNode(model=ScriptedChatModel(), max_tokens=10, max_summary_tokens=10)


def test_bad_inputs_raise_input_errors() -> None:
    node = SummarizationNode(model=ScriptedChatModel(), max_tokens=100, max_summary_tokens=10)
    with pytest.raises(InputError, match="has no 'messages'"):
        node.invoke({"other": []})
    with pytest.raises(InputError, match="must be a dict"):
        node.invoke({"messages": [], "context": "x"})
    with pytest.raises(ConfigurationError, match="RunningSummary"):
        summarize_messages(
            [HumanMessage("hi")],
            running_summary="old",  # type: ignore[arg-type]  # deliberately wrong type
            model=ScriptedChatModel(),
            max_tokens=100,
            max_summary_tokens=10,
        )
    with pytest.raises(InputError, match="could not be read"):
        summarize_messages(
            [{"nope": 1}],
            running_summary=None,
            model=ScriptedChatModel(),
            max_tokens=100,
            max_summary_tokens=10,
        )


def test_an_empty_summary_is_refused() -> None:
    b = parallel_tools_conversation()
    with pytest.raises(ModelOutputError, match="returned no text"):
        summarize_messages(
            b.messages,
            running_summary=None,
            model=ScriptedChatModel(replies=[""]),
            max_tokens=100,
            max_summary_tokens=10,
        )


def test_node_keeps_history_and_returns_the_running_summary_in_context() -> None:
    b = parallel_tools_conversation()
    node = SummarizationNode(
        model=ScriptedChatModel(replies=["sum"]), max_tokens=150, max_summary_tokens=30
    )
    update = node.invoke({"messages": b.messages, "context": {"other": 1}})
    assert set(update) == {"summarized_messages", "context"}
    assert update["context"]["other"] == 1
    assert isinstance(update["context"]["running_summary"], RunningSummary)
    check_openai_sequence(update["summarized_messages"])
    again = asyncio.run(node.ainvoke({"messages": b.messages, "context": update["context"]}))
    assert again["context"]["running_summary"] == update["context"]["running_summary"]
