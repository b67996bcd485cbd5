"""One extraction round: prompt the model, validate its calls, ask once more for rejected ones.

A round is a pipeline (see ``reverie.core.effects``): it yields its model calls. How the model
is asked and how its reply is read depend on the extraction mode (``output_modes``); which mode
is used, and when to move to the next, on the manager's ``ModePolicy``. Every round ends in
operations, an explicit "nothing", or a warning/typed error saying why: never in silence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from reverie.core.effects import Invoke, Pipeline
from reverie.core.errors import (
    ConfigurationError,
    ModelOutputError,
    ReverieError,
    UnusableReplyError,
)
from reverie.extraction import prompts
from reverie.extraction.budget import fit_lines
from reverie.extraction.conflicts import reject_conflicts
from reverie.extraction.mode_policy import ModeName, ModePolicy
from reverie.extraction.output_modes import ModeUnavailable, OutputMode, Reading, build_mode
from reverie.extraction.provider_errors import MODE_UNSUPPORTED, provider_error
from reverie.extraction.report import RunReport
from reverie.extraction.schemas import Operation, ParsedReply, SchemaToolkit
from reverie.extraction.usage import record_reply

logger = logging.getLogger("reverie.extraction")

# A refused correction request is sent once more in the other shape only when the refusal may
# be about its shape (tool messages a strict server rejects), not about quota or credentials.
_SHAPE_ERRORS = frozenset({"bad_request", "server_error", "unknown", *MODE_UNSUPPORTED})


@dataclass(frozen=True)
class RoundInput:
    """What one model call sees: aliased memories, already-processed context, new messages."""

    shown: list[tuple[str, BaseModel]]
    context_lines: list[str]
    new_lines: list[str]
    dates: str | None = None  # when the new conversation happened, as the prompt says it


class ExtractionEngine:
    """Asks one manager's model for memory operations; its prompts are built once here."""

    def __init__(
        self,
        model: BaseChatModel,
        toolkit: SchemaToolkit,
        instructions: str,
        *,
        memory_budget_tokens: int,
        policy: ModePolicy | None = None,
    ) -> None:
        self.toolkit = toolkit
        self.model = model
        self.instructions = instructions
        self.policy = policy if policy is not None else ModePolicy(model)
        self.memory_budget_tokens = memory_budget_tokens
        self._modes: dict[str, OutputMode] = {}
        # Paid on every call whatever the conversation: prompt, schemas, headings. The largest
        # of the modes this engine may move to, so a later move cannot overflow the budget.
        sizes = []
        for name in self.policy.chain:
            try:
                sizes.append(self._mode_named(name).fixed_chars)
            except ModeUnavailable:
                continue
        self.fixed_tokens = (max(sizes, default=0) + 3) // 4 + 40
        self.check_available()

    def _mode_named(self, name: ModeName) -> OutputMode:
        if name not in self._modes:
            self._modes[name] = build_mode(
                name,
                self.model,
                self.toolkit,
                self.instructions,
                force_tool_choice=self.policy.force_tool_choice,
            )
        return self._modes[name]

    @property
    def mode(self) -> OutputMode:
        """The mode the next request uses."""
        while True:
            name = self.policy.current
            try:
                return self._mode_named(name)
            except ModeUnavailable as why:
                if not self.policy.advance(name, str(why)):
                    raise ConfigurationError(
                        f"This chat model cannot be asked in extraction mode {name!r} ({why}). "
                        "Pass extraction_mode='auto' or 'text'."
                    ) from None

    def check_available(self) -> None:
        """Fail now, not mid-run, when a forced mode is one this model cannot do."""
        self.mode  # noqa: B018

    @property
    def system(self) -> BaseMessage:
        return self.mode.system

    def human_message(self, round_input: RoundInput) -> tuple[HumanMessage, set[str]]:
        lines = [
            f"[{alias}] {self.toolkit.render_content(content)}"
            for alias, content in round_input.shown
        ]
        kept = fit_lines(lines, self.memory_budget_tokens)
        shown_aliases = {alias for alias, _ in round_input.shown[: len(kept)]}
        human = HumanMessage(
            prompts.user_prompt(
                kept, round_input.context_lines, round_input.new_lines, round_input.dates
            )
        )
        return human, shown_aliases

    def round(
        self,
        round_input: RoundInput,
        config: RunnableConfig | None = None,
        report: RunReport | None = None,
    ) -> Pipeline[list[Operation]]:
        """Ask the model once, and once more for the calls it got wrong; the valid operations."""
        report = report if report is not None else RunReport()
        report.rounds += 1
        human, shown = self.human_message(round_input)
        report.memories_not_shown += len(round_input.shown) - len(shown)
        # The shown memories' text, to name one in a correction or a warning about it.
        stored = {
            alias: self.toolkit.render_content(content)
            for alias, content in round_input.shown
            if alias in shown
        }
        while True:
            mode = self.mode
            messages: list[BaseMessage] = [mode.system, human]
            try:
                raw = yield from Invoke(mode.runnable(shown), messages, config)
            except ReverieError:
                raise
            except ModeUnavailable as why:
                if self._move_on(mode, str(why), report):
                    continue
                raise ModelOutputError(f"Extraction mode {mode.name!r} failed: {why}") from None
            except Exception as exc:
                error = provider_error(exc, mode=mode.name)
                if error.kind in MODE_UNSUPPORTED and self._move_on(mode, error.kind, report):
                    continue
                raise error from exc
            report.record_call(mode.name)
            record_reply(report, raw, messages, self.model, tool_chars=mode.tool_chars)
            reading = mode.read(raw)
            if reading.unusable is None:
                break
            if mode.demands_structure and self._move_on(mode, reading.unusable, report):
                continue
            self._unusable(mode, reading.unusable, report)
            return []
        first = self._parse(reading, shown, stored)
        second = None
        if first.errors:
            second = yield from self._correct(
                mode, messages, reading, first, shown, stored, config, report
            )
        operations = self._finish(first, second, report)
        report.operations += len(operations)
        return operations

    def _move_on(self, mode: OutputMode, reason: str, report: RunReport) -> bool:
        if not self.policy.advance(mode.name, reason):
            return False
        report.fallbacks.append(f"{mode.name} -> {self.policy.current}: {reason}")
        return True

    def _unusable(self, mode: OutputMode, why: str, report: RunReport) -> None:
        report.unusable_replies += 1
        message = (
            f"The model's reply could not be read as memory operations ({mode.name} mode): "
            f"{why}. Nothing was stored from it. {mode.hint}"
        )
        report.warnings.append(message)
        if self.policy.on_unusable_reply == "raise":
            raise UnusableReplyError(message)
        logger.warning(message)

    def _parse(
        self,
        reading: Reading,
        shown: set[str],
        stored: dict[str, str],
        settled: Sequence[Operation] = (),
    ) -> ParsedReply:
        """The reply's valid calls; ``settled`` are the operations already accepted this round,
        which a correction's calls may not contradict (see ``conflicts``)."""
        parsed = self.toolkit.parse(reading.calls, reading.invalid, shown)
        parsed.errors.extend(reading.errors)
        reject_conflicts(
            parsed,
            settled,
            stored=stored,
            render=self.toolkit.render_content,
            deletes=self.toolkit.enable_deletes,
        )
        return parsed

    def _correct(
        self,
        mode: OutputMode,
        messages: list[BaseMessage],
        reading: Reading,
        first: ParsedReply,
        shown: set[str],
        stored: dict[str, str],
        config: RunnableConfig | None,
        report: RunReport,
    ) -> Pipeline[ParsedReply | None]:
        """One correction request (in a second shape if a strict server refuses the first)."""
        requests = mode.corrections(messages, reading, first)
        for attempt, retry_messages in enumerate(requests, start=1):
            try:
                raw = yield from Invoke(mode.runnable(shown), retry_messages, config)
            except ReverieError:
                raise
            except Exception as exc:
                error = provider_error(exc, mode=mode.name, during="correction request")
                if attempt < len(requests) and error.kind in _SHAPE_ERRORS:
                    continue
                if not first.operations:
                    raise error from exc
                note = f"{error} The {len(first.operations)} valid operations were kept."
                report.warnings.append(note)
                logger.warning(note)
                return None
            report.record_call(mode.name)
            record_reply(report, raw, retry_messages, self.model, tool_chars=mode.tool_chars)
            retry = mode.read(raw)
            if retry.unusable is not None:
                report.warnings.append(f"The correction reply was unusable: {retry.unusable}.")
                return ParsedReply()
            return self._parse(retry, shown, stored, first.operations)
        return None

    @staticmethod
    def _finish(
        first: ParsedReply, second: ParsedReply | None, report: RunReport
    ) -> list[Operation]:
        operations = list(first.operations)
        remaining = first.errors
        report.rejected_calls += len(first.errors)
        if second is not None:
            operations.extend(second.operations)
            report.rejected_calls += len(second.errors)
            gave_up = not second.operations and not second.errors
            remaining = first.errors if gave_up else second.errors
        if remaining:
            # Calls rejected together (a contradiction) share their message: say it once.
            # Each message is a sentence of its own: its full stop is left out where the
            # messages are run together.
            detail = "; ".join(dict.fromkeys(msg.rstrip(". ") for _, msg in remaining))
            if not operations:
                raise ModelOutputError(
                    "The model's memory operations were all invalid, even after one correction request; "
                    f"nothing was written. Problems: {detail}. Check the model supports tool calling "
                    "or use a stronger model."
                )
            report.warnings.append(f"Dropped invalid memory operations: {detail}")
            logger.warning("Dropped invalid memory operations from the model: %s", detail)
        return operations


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
