"""One extraction round: prompt the model, validate its tool calls, ask once more for rejected ones.

A round is a pipeline (see ``reverie.core.effects``): it yields its model calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from reverie.core.effects import Invoke, Pipeline
from reverie.core.errors import ModelOutputError
from reverie.extraction import prompts
from reverie.extraction.budget import fit_lines
from reverie.extraction.messages import estimate_tokens
from reverie.extraction.schemas import Operation, ParsedReply, SchemaToolkit

logger = logging.getLogger("reverie.extraction")


@dataclass(frozen=True)
class RoundInput:
    """What one model call sees: aliased memories, already-processed context, new messages."""

    shown: list[tuple[str, BaseModel]]
    context_lines: list[str]
    new_lines: list[str]


class ExtractionEngine:
    """Owns the bound model and fixed prompt of one manager; both are built once here."""

    def __init__(
        self,
        model: BaseChatModel,
        toolkit: SchemaToolkit,
        instructions: str,
        *,
        memory_budget_tokens: int,
    ) -> None:
        self.toolkit = toolkit
        self.model = model
        self.bound = model.bind_tools(toolkit.tools)
        self.system = SystemMessage(
            prompts.system_prompt(
                instructions,
                inserts=toolkit.enable_inserts,
                updates=toolkit.enable_updates,
                deletes=toolkit.enable_deletes,
            )
        )
        self.memory_budget_tokens = memory_budget_tokens
        # Paid on every call whatever the conversation: system prompt, tool schemas, headings.
        self.fixed_tokens = estimate_tokens(self.system.text) + (toolkit.tools_chars + 3) // 4 + 40

    def messages_for(self, round_input: RoundInput) -> tuple[list[BaseMessage], set[str]]:
        lines = [
            f"[{alias}] {self.toolkit.render_content(content)}"
            for alias, content in round_input.shown
        ]
        kept = fit_lines(lines, self.memory_budget_tokens)
        shown_aliases = {alias for alias, _ in round_input.shown[: len(kept)]}
        human = HumanMessage(
            prompts.user_prompt(kept, round_input.context_lines, round_input.new_lines)
        )
        return [self.system, human], shown_aliases

    def _first(self, reply: BaseMessage, shown: set[str]) -> ParsedReply:
        if not isinstance(reply, AIMessage):
            return ParsedReply()
        return self.toolkit.parse(
            [dict(c) for c in reply.tool_calls], [dict(c) for c in reply.invalid_tool_calls], shown
        )

    @staticmethod
    def _retry_messages(
        messages: list[BaseMessage], reply: AIMessage, parsed: ParsedReply
    ) -> list[BaseMessage]:
        results: list[BaseMessage] = []
        errors = dict(parsed.errors)
        answered: set[str] = set()
        for call in [*reply.tool_calls, *reply.invalid_tool_calls]:
            call_id = call.get("id") or ""
            if call_id in answered:
                continue
            answered.add(call_id)
            text = f"Rejected: {errors[call_id]}" if call_id in errors else "Accepted."
            results.append(ToolMessage(content=text, tool_call_id=call_id))
        # A reply whose calls carry no ids cannot be answered with tool results; say it in text.
        unanswered = [msg for cid, msg in parsed.errors if not cid]
        follow_up = prompts.RETRY_PROMPT
        if unanswered:
            follow_up = "Rejected calls:\n- " + "\n- ".join(unanswered) + "\n\n" + follow_up
        return [*messages, reply, *results, HumanMessage(follow_up)]

    @staticmethod
    def _finish(first: ParsedReply, second: ParsedReply | None) -> list[Operation]:
        operations = list(first.operations)
        remaining = first.errors
        if second is not None:
            operations.extend(second.operations)
            gave_up = not second.operations and not second.errors
            remaining = first.errors if gave_up else second.errors
        if remaining:
            detail = "; ".join(msg for _, msg in remaining)
            if not operations:
                raise ModelOutputError(
                    "The model's memory operations were all invalid, even after one correction request; "
                    f"nothing was written. Problems: {detail}. Check the model supports tool calling "
                    "or use a stronger model."
                )
            logger.warning("Dropped invalid memory operations from the model: %s", detail)
        return operations

    def round(
        self, round_input: RoundInput, config: RunnableConfig | None = None
    ) -> Pipeline[list[Operation]]:
        """Ask the model once, and once more for the calls it got wrong; the valid operations."""
        messages, shown = self.messages_for(round_input)
        reply = yield from Invoke(self.bound, messages, config)
        first = self._first(reply, shown)
        second = None
        if first.errors and isinstance(reply, AIMessage):
            retry = yield from Invoke(
                self.bound, self._retry_messages(messages, reply, first), config
            )
            second = self._first(retry, shown)
        return self._finish(first, second)


def query_messages(new_lines: Sequence[str]) -> list[BaseMessage]:
    return [HumanMessage(prompts.QUERY_PROMPT.format(conversation="\n".join(new_lines)))]


def queries_from(reply: BaseMessage) -> list[str]:
    if not isinstance(reply, AIMessage):
        return []
    queries = []
    for call in reply.tool_calls:
        query = call.get("args", {}).get("query") if isinstance(call.get("args"), dict) else None
        if isinstance(query, str) and query.strip():
            queries.append(query.strip()[:1000])
    return queries
