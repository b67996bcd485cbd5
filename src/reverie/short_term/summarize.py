"""``summarize_messages`` and ``asummarize_messages``: keep a conversation within a token budget by
replacing its older messages with a running summary.

Both are one pipeline (``reverie.core.effects``): ``summarize_messages`` drives it blocking,
``asummarize_messages`` awaiting, so they make the same decisions and the same model calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AnyMessage, BaseMessage, MessageLikeRepresentation
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig

from reverie.core.effects import Invoke, Pipeline, arun, run
from reverie.core.errors import ConfigurationError, ModelOutputError
from reverie.extraction.messages import normalize_messages
from reverie.extraction.models import resolve_chat_model
from reverie.short_term import prompts
from reverie.short_term.planning import (
    SUMMARY_ID_PREFIX,
    Budget,
    Plan,
    plan_summarization,
    round_end,
)
from reverie.short_term.types import RunningSummary, SummarizationResult

# Called with a list of messages; LangChain's count_tokens_approximately and every chat model's
# get_num_tokens_from_messages fit.
TokenCounter = Callable[[list[BaseMessage]], int]


def _checked_prompt(prompt: Any, argument: str, allowed: frozenset[str]) -> ChatPromptTemplate:
    if not isinstance(prompt, ChatPromptTemplate):
        raise ConfigurationError(
            f"{argument} must be a ChatPromptTemplate, got {type(prompt).__name__}. Build one "
            "with ChatPromptTemplate.from_messages([...])."
        )
    unknown = set(prompt.input_variables) - allowed
    if unknown:
        raise ConfigurationError(
            f"{argument} uses variables {sorted(unknown)} that the summarizer cannot fill; it "
            f"may only use {sorted(allowed)}."
        )
    return prompt


def _checked_budget(
    max_tokens: Any, max_tokens_before_summary: Any, max_summary_tokens: Any
) -> Budget:
    for name, value in (("max_tokens", max_tokens), ("max_summary_tokens", max_summary_tokens)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigurationError(f"{name} must be a whole number of tokens, got {value!r}.")
    if max_tokens_before_summary is not None and (
        not isinstance(max_tokens_before_summary, int)
        or isinstance(max_tokens_before_summary, bool)
        or max_tokens_before_summary < 1
    ):
        raise ConfigurationError(
            "max_tokens_before_summary must be a positive number of tokens or None (then it is "
            f"max_tokens), got {max_tokens_before_summary!r}."
        )
    if max_summary_tokens >= max_tokens:
        raise ConfigurationError(
            f"max_summary_tokens ({max_summary_tokens}) must be less than max_tokens "
            f"({max_tokens}): the summary has to leave room for the messages kept after it."
        )
    return Budget(
        max_tokens=max_tokens,
        before_summary=(
            max_tokens if max_tokens_before_summary is None else max_tokens_before_summary
        ),
        summary_tokens=max_summary_tokens,
    )


def _checked_model(model: Any) -> Runnable[Any, Any]:
    if isinstance(model, str):
        return resolve_chat_model(model)
    if not isinstance(model, Runnable):
        raise ConfigurationError(
            f"model must be a chat model (or a 'provider:model' string), got {type(model).__name__}."
        )
    return model


def _reply_text(reply: Any) -> str:
    text = reply if isinstance(reply, str) else reply.text if isinstance(reply, BaseMessage) else ""
    if not text.strip():
        raise ModelOutputError(
            "The summarization model returned no text, so nothing was summarized and the "
            "running summary is unchanged. Check that the model answers plain prompts (not only "
            "tool calls) and that its max_tokens leaves room for an answer."
        )
    return text.strip()


class _TokenCache:
    """``token_counter`` applied to one message at a time, each message counted once per call.

    Entries hold the message itself, so an id is never reused by another object meanwhile."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.counted: dict[int, tuple[BaseMessage, int]] = {}

    def __call__(self, message: BaseMessage) -> int:
        entry = self.counted.get(id(message))
        if entry is None:
            entry = self.counted[id(message)] = (message, self.counter([message]))
        return entry[1]


@dataclass(frozen=True)
class Summarizer:
    """Validated settings of a summarization; ``pipeline`` does the work."""

    model: Runnable[Any, Any]
    budget: Budget
    token_counter: TokenCounter
    initial_summary_prompt: ChatPromptTemplate
    existing_summary_prompt: ChatPromptTemplate
    final_prompt: ChatPromptTemplate

    @classmethod
    def create(
        cls,
        *,
        model: Any,
        max_tokens: Any,
        max_tokens_before_summary: Any,
        max_summary_tokens: Any,
        token_counter: Any,
        initial_summary_prompt: Any,
        existing_summary_prompt: Any,
        final_prompt: Any,
    ) -> Summarizer:
        if not callable(token_counter):
            raise ConfigurationError(
                "token_counter must be a function of a list of messages returning an int, e.g. "
                "count_tokens_approximately or model.get_num_tokens_from_messages."
            )
        return cls(
            model=_checked_model(model),
            budget=_checked_budget(max_tokens, max_tokens_before_summary, max_summary_tokens),
            token_counter=token_counter,
            initial_summary_prompt=_checked_prompt(
                initial_summary_prompt, "initial_summary_prompt", prompts.FIRST_SUMMARY_VARIABLES
            ),
            existing_summary_prompt=_checked_prompt(
                existing_summary_prompt,
                "existing_summary_prompt",
                prompts.EXTEND_SUMMARY_VARIABLES,
            ),
            final_prompt=_checked_prompt(final_prompt, "final_prompt", prompts.FINAL_VARIABLES),
        )

    def _request(self, summary: str | None, messages: list[AnyMessage]) -> list[BaseMessage]:
        if summary is None:
            return self.initial_summary_prompt.format_messages(messages=messages)
        return self.existing_summary_prompt.format_messages(
            messages=messages, existing_summary=summary
        )

    def _summarize(
        self, plan: Plan, summary: str | None, count: _TokenCache, config: RunnableConfig | None
    ) -> Pipeline[str]:
        """Extend ``summary`` with the plan's messages, in as many calls as the budget needs:
        each call gets at most ``max_tokens`` tokens, prompt and summary so far included."""
        start = 0
        while start < len(plan.groups):
            room = self.budget.max_tokens - self.token_counter(self._request(summary, []))
            end = round_end(plan.groups, start, room, count)
            batch = [m for group in plan.groups[start:end] for m in group]
            reply = yield from Invoke(self.model, self._request(summary, batch), config)
            summary = _reply_text(reply)
            start = end
        assert summary is not None  # the plan had at least one group
        return summary

    def _final(self, plan: Plan, summary: str) -> list[AnyMessage]:
        """The final prompt filled in; the messages it made (the summary) get marked ids."""
        inputs = [plan.system] if plan.system is not None else []
        formatted = self.final_prompt.format_messages(
            system_message=inputs, summary=summary, messages=plan.kept
        )
        given = {id(m) for m in [*inputs, *plan.kept]}
        marked = [
            m
            if id(m) in given
            else m.model_copy(update={"id": f"{SUMMARY_ID_PREFIX}{uuid.uuid4().hex}"})
            for m in formatted
        ]
        return cast(list[AnyMessage], marked)

    def pipeline(
        self,
        messages: Any,
        running_summary: Any,
        config: RunnableConfig | None = None,
    ) -> Pipeline[SummarizationResult]:
        if running_summary is not None and not isinstance(running_summary, RunningSummary):
            raise ConfigurationError(
                "running_summary must be the RunningSummary a previous call returned, or None, "
                f"got {type(running_summary).__name__}."
            )
        # normalize_messages returns concrete message classes, which is what AnyMessage lists.
        normalized = cast(list[AnyMessage], normalize_messages(messages) if messages else [])
        count = _TokenCache(self.token_counter)
        plan = plan_summarization(normalized, running_summary, self.budget, count)
        if not plan.groups:
            if running_summary is None:
                head = [plan.system] if plan.system is not None else []
                return SummarizationResult(messages=[*head, *plan.kept])
            return SummarizationResult(
                messages=self._final(plan, running_summary.summary),
                running_summary=running_summary,
            )
        previous = running_summary.summary if running_summary is not None else None
        summary = yield from self._summarize(plan, previous, count, config)
        covered = set(running_summary.summarized_message_ids) if running_summary else set()
        updated = RunningSummary(
            summary=summary,
            summarized_message_ids=covered | set(plan.summarized_keys),
            last_summarized_message_id=plan.summarized_keys[-1],
        )
        return SummarizationResult(messages=self._final(plan, summary), running_summary=updated)


def summarize_messages(
    messages: Sequence[MessageLikeRepresentation],
    *,
    running_summary: RunningSummary | None,
    model: LanguageModelLike,
    max_tokens: int,
    max_tokens_before_summary: int | None = None,
    max_summary_tokens: int = 256,
    token_counter: TokenCounter = count_tokens_approximately,
    initial_summary_prompt: ChatPromptTemplate = prompts.FIRST_SUMMARY_PROMPT,
    existing_summary_prompt: ChatPromptTemplate = prompts.EXTEND_SUMMARY_PROMPT,
    final_prompt: ChatPromptTemplate = prompts.FINAL_PROMPT,
) -> SummarizationResult:
    """Summarize the older messages once they exceed a token budget; return what to send next.

    Messages are counted oldest first, past what ``running_summary`` already covers (a leading
    system message is kept aside and always returned first). When they reach
    ``max_tokens_before_summary`` tokens (default ``max_tokens``), the oldest ones are folded
    into the running summary: at least ``max_tokens_before_summary`` tokens' worth, and more if
    needed so that system message + summary (``max_summary_tokens``, budgeted not enforced; bind
    ``max_tokens`` on the model to enforce it) + kept messages fit ``max_tokens``. The
    summarizer gets at most ``max_tokens`` tokens per call; longer stretches are summarized in
    several calls, each extending the summary. Nothing is summarized twice, a tool call is never
    separated from its results, and the latest human message is always kept.

    Returns the messages for the model (system message, summary message, kept messages) and the
    running summary to pass to the next call (None while nothing was ever summarized).
    """
    summarizer = Summarizer.create(
        model=model,
        max_tokens=max_tokens,
        max_tokens_before_summary=max_tokens_before_summary,
        max_summary_tokens=max_summary_tokens,
        token_counter=token_counter,
        initial_summary_prompt=initial_summary_prompt,
        existing_summary_prompt=existing_summary_prompt,
        final_prompt=final_prompt,
    )
    return run(summarizer.pipeline(messages, running_summary))


async def asummarize_messages(
    messages: Sequence[MessageLikeRepresentation],
    *,
    running_summary: RunningSummary | None,
    model: LanguageModelLike,
    max_tokens: int,
    max_tokens_before_summary: int | None = None,
    max_summary_tokens: int = 256,
    token_counter: TokenCounter = count_tokens_approximately,
    initial_summary_prompt: ChatPromptTemplate = prompts.FIRST_SUMMARY_PROMPT,
    existing_summary_prompt: ChatPromptTemplate = prompts.EXTEND_SUMMARY_PROMPT,
    final_prompt: ChatPromptTemplate = prompts.FINAL_PROMPT,
) -> SummarizationResult:
    """:func:`summarize_messages`, awaiting the model."""
    summarizer = Summarizer.create(
        model=model,
        max_tokens=max_tokens,
        max_tokens_before_summary=max_tokens_before_summary,
        max_summary_tokens=max_summary_tokens,
        token_counter=token_counter,
        initial_summary_prompt=initial_summary_prompt,
        existing_summary_prompt=existing_summary_prompt,
        final_prompt=final_prompt,
    )
    return await arun(summarizer.pipeline(messages, running_summary))
