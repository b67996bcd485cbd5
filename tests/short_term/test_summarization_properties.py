"""Property test: random conversations (parallel tool calls, system messages, images) summarized
turn after turn, as an agent's pre-model hook would, under random budgets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately

from reverie.short_term import RunningSummary, SummarizationNode, summarize_messages
from tests.short_term.conversations import Builder, CheckingSummarizer, conversations
from tests.short_term.validator import check_openai_sequence

# The scripted summaries ("S1", "S2", ...) make summary messages of at most this many tokens.
SUMMARY_MESSAGE_TOKENS = 16


def tokens(messages: Sequence[BaseMessage]) -> int:
    return count_tokens_approximately(messages)


@st.composite
def budgets(draw: st.DrawFn) -> tuple[int, int | None, int]:
    max_tokens = draw(st.integers(SUMMARY_MESSAGE_TOKENS + 1, 500))
    summary = draw(st.integers(SUMMARY_MESSAGE_TOKENS, max_tokens - 1))
    before = draw(st.none() | st.integers(1, 700))
    return max_tokens, before, summary


def latest_human(messages: list[BaseMessage]) -> HumanMessage | None:
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    return humans[-1] if humans else None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation=conversations(), budget=budgets())
def test_summarizing_every_turn_keeps_every_promise(
    conversation: Builder, budget: tuple[int, int | None, int]
) -> None:
    max_tokens, before, summary_tokens = budget
    threshold = max_tokens if before is None else before
    summarizer = CheckingSummarizer({str(m.id) for m in conversation.messages})
    running: RunningSummary | None = None
    for turn in conversation.turns:
        history = conversation.messages[:turn]
        calls_before = len(summarizer.model.calls)
        covered = set(running.summarized_message_ids) if running else set()
        result = summarize_messages(
            history,
            running_summary=running,
            model=summarizer.model,
            max_tokens=max_tokens,
            max_tokens_before_summary=before,
            max_summary_tokens=summary_tokens,
        )
        summarized_now = len(summarizer.model.calls) > calls_before
        event(f"summarizer calls this turn: {min(len(summarizer.model.calls) - calls_before, 3)}")
        output = result.messages

        # A provider accepts the output (and every summarizer request was checked too).
        check_openai_sequence(output)
        # The latest human message is always there.
        human = latest_human(history)
        assert human is not None and any(m.id == human.id for m in output)
        # The system prompt stays first.
        if isinstance(history[0], SystemMessage):
            assert output[0] is history[0]
        # Nothing is lost: each message is either sent on or covered by the summary.
        kept_ids = {m.id for m in output}
        summary_ids = (
            result.running_summary.summarized_message_ids if result.running_summary else set()
        )
        for message in history[1:] if isinstance(history[0], SystemMessage) else history:
            assert message.id in kept_ids or message.id in summary_ids
        # Each message reaches the summarizer once at most, over the whole conversation.
        assert max(Counter(summarizer.shown).values(), default=0) <= 1
        # Summarizing starts exactly when the messages not yet summarized reach the threshold.
        body = [m for m in history if not (m is history[0] and isinstance(m, SystemMessage))]
        open_messages = [m for m in body if m.id not in covered or m is human]
        if summarized_now:
            assert tokens(open_messages) >= threshold
        else:
            assert tokens(open_messages) < threshold or open_messages == [human]
        # After summarizing, the output fits max_tokens whenever the system prompt, the summary
        # budget and the latest human message leave any room at all.
        system = [history[0]] if isinstance(history[0], SystemMessage) else []
        if summarized_now and tokens([*system, human]) + summary_tokens <= max_tokens:
            assert tokens(output) <= max_tokens, (tokens(output), max_tokens)
            event("summarized, output checked against max_tokens")
        if summarized_now and output.index(human) < len(output) - 1:
            event("summarized, messages kept after the latest human message")
        running = result.running_summary

    # Every summarizer request fit max_tokens, unless it carried one indivisible piece.
    for call in summarizer.model.calls:
        conversation_part = [
            m for m in call.request.messages if m.id in summarizer.conversation_ids
        ]
        starts = [m for m in conversation_part if m.type != "tool"]
        assert call.input_tokens <= max_tokens or len(starts) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation=conversations(), budget=budgets())
def test_a_node_that_overwrites_its_history_never_summarizes_twice(
    conversation: Builder, budget: tuple[int, int | None, int]
) -> None:
    """With input key == output key the state holds [system, summary, kept] after each turn;
    the old summary message is replaced, never summarized again."""
    max_tokens, before, summary_tokens = budget
    summarizer = CheckingSummarizer({str(m.id) for m in conversation.messages})
    node = SummarizationNode(
        model=summarizer.model,
        max_tokens=max_tokens,
        max_tokens_before_summary=before,
        max_summary_tokens=summary_tokens,
        output_messages_key="messages",
    )
    state: list[BaseMessage] = []
    context: dict[str, object] = {}
    seen = 0
    for turn in conversation.turns:
        state = state + conversation.messages[seen:turn]
        seen = turn
        update = node.invoke({"messages": state, "context": context})
        new_messages = update["messages"]
        if new_messages and new_messages[0].type == "remove":
            new_messages = new_messages[1:]
        state = list(new_messages)
        context = update.get("context", context)
        check_openai_sequence(state)
        human = latest_human(conversation.messages[:turn])
        assert human is not None and any(m.id == human.id for m in state)
        assert sum(1 for m in state if (m.id or "").startswith("reverie-summary-")) <= 1
        assert max(Counter(summarizer.shown).values(), default=0) <= 1
