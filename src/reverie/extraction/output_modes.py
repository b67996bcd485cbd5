"""How each extraction mode asks the model, reads its reply, and asks it to correct itself.

A mode turns a round's prompt into a request (a runnable and its messages), a reply into a
:class:`Reading` (tool-call dicts, whatever mode the reply came in), and rejected calls into
correction requests that strict OpenAI-compatible servers accept. What a call may do is decided
afterwards, for every mode alike, by ``SchemaToolkit.parse``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable

from reverie.core.errors import ConfigurationError
from reverie.extraction import prompts
from reverie.extraction.call_schema import calls_schema, format_instructions
from reverie.extraction.mode_policy import ModeName
from reverie.extraction.reply_parsing import TextCalls, calls_in, read_calls
from reverie.extraction.schemas import ParsedReply, SchemaToolkit

NO_CHANGES_TOOL = "no_changes"
NO_CHANGES = {
    "type": "function",
    "function": {
        "name": NO_CHANGES_TOOL,
        "description": "Call this, alone, when nothing needs to be added, updated or deleted.",
        "parameters": {"type": "object", "properties": {}},
    },
}
# Binding a request option the integration does not know fails with one of these.
_BIND_ERRORS = (NotImplementedError, ValueError, TypeError)


class ModeUnavailable(Exception):
    """This chat model's LangChain integration cannot make requests in this mode."""


@dataclass
class Reading:
    """A reply as calls; ``unusable`` says why no call could be read from it at all."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    message: AIMessage | None = None
    native_ids: bool = False  # native tool calls with ids: correct them with tool results
    unusable: str | None = None

    @classmethod
    def of(cls, found: TextCalls, text: str, message: AIMessage) -> Reading:
        return cls(found.calls, found.invalid, found.errors, text, message)


def _quote(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


class OutputMode(ABC):
    name: ClassVar[ModeName]
    hint: ClassVar[str]
    retry_tail: ClassVar[str] = prompts.RETRY_TEXT_JSON
    when_nothing: str = prompts.NONE_BY_EMPTY_LIST  # the prompt's "if nothing" line

    def __init__(self, model: BaseChatModel, toolkit: SchemaToolkit, instructions: str) -> None:
        self.model = model
        self.toolkit = toolkit
        schemas = list(toolkit.schemas)
        self.default_name = schemas[0] if len(schemas) == 1 else None
        self.tool_names = [t["function"]["name"] for t in toolkit.tools]
        self.system = SystemMessage(self.system_text(instructions))

    def system_text(self, instructions: str) -> str:
        return prompts.system_prompt(
            instructions,
            inserts=self.toolkit.enable_inserts,
            updates=self.toolkit.enable_updates,
            deletes=self.toolkit.enable_deletes,
            when_nothing=self.when_nothing,
        )

    # A reply in prose means the server ignored what was asked (rather than the model choosing
    # to say nothing), so the automatic mode may move on to the next mode.
    @property
    def demands_structure(self) -> bool:
        return True

    @property
    def fixed_chars(self) -> int:
        """Characters every request pays whatever the conversation (prompt, schemas)."""
        return len(self.system.text)

    @property
    def tool_chars(self) -> int:
        """Characters of the tools' JSON bound to each request (counted as input tokens when
        the provider reports none)."""
        return 0

    @abstractmethod
    def runnable(self, shown: set[str]) -> Runnable[Any, Any]: ...

    @abstractmethod
    def read(self, raw: Any) -> Reading: ...

    def corrections(
        self, messages: list[BaseMessage], reading: Reading, parsed: ParsedReply
    ) -> list[list[BaseMessage]]:
        """Correction requests, preferred first; the next is tried if a server refuses one."""
        return [self.described_correction(messages, reading, parsed)]

    def described_correction(
        self, messages: list[BaseMessage], reading: Reading, parsed: ParsedReply
    ) -> list[BaseMessage]:
        """The reply as plain assistant text and the rejections in a user turn: every server
        accepts this, whatever it makes of tool messages."""
        said = reading.text.strip() or json.dumps(
            {"calls": [{"name": c.get("name"), "arguments": c.get("args")} for c in reading.calls]},
            ensure_ascii=False,
        )
        rejected = "\n".join(f"- {message}" for _, message in parsed.errors)
        return [
            *messages,
            AIMessage(content=said),
            HumanMessage(f"Rejected calls:\n{rejected}\n\n{self.retry_tail}"),
        ]

    def _from_text(self, text: str, id_prefix: str) -> TextCalls:
        return read_calls(
            text, self.tool_names, default_name=self.default_name, id_prefix=id_prefix
        )


class ToolsMode(OutputMode):
    name = "tools"
    hint = (
        "The server may have dropped the tools: OpenAI-compatible servers need tool support in "
        "the model's chat template (llama.cpp: --jinja and a tool-capable template; vLLM: "
        "--enable-auto-tool-choice --tool-call-parser ...; Ollama: a model with 'tools'). Or "
        "pass extraction_mode='json_schema'."
    )
    retry_tail = prompts.RETRY_TEXT_TOOLS

    def __init__(
        self, model: BaseChatModel, toolkit: SchemaToolkit, instructions: str, *, forced: bool
    ) -> None:
        self.forced = forced
        if forced and NO_CHANGES_TOOL in toolkit.schemas:
            raise ConfigurationError(
                f"A schema may not be named {NO_CHANGES_TOOL!r}: it is reserved in tools mode."
            )
        self.when_nothing = (
            prompts.NONE_BY_ESCAPE_TOOL.format(tool=NO_CHANGES_TOOL)
            if forced
            else prompts.NONE_BY_NO_CALLS
        )
        super().__init__(model, toolkit, instructions)
        tools = [*toolkit.tools, NO_CHANGES] if forced else list(toolkit.tools)
        self.tools_chars = len(json.dumps(tools, separators=(",", ":")))
        self.bound = self._bind(model, tools)

    def _bind(self, model: BaseChatModel, tools: list[dict[str, Any]]) -> Runnable[Any, Any]:
        # Always name a tool_choice: some OpenAI-compatible servers ignore tools without one.
        problems = []
        for choice in ("any", "required") if self.forced else ("auto",):
            try:
                return model.bind_tools(tools, tool_choice=choice)
            except _BIND_ERRORS as exc:
                problems.append(f"tool_choice={choice!r}: {exc}")
        if not self.forced:  # an integration without a tool_choice option at all
            try:
                return model.bind_tools(tools)
            except _BIND_ERRORS as exc:
                problems.append(str(exc))
        raise ModeUnavailable("; ".join(problems))

    @property
    def demands_structure(self) -> bool:
        return self.forced  # unforced, a model may answer in words when it calls nothing

    @property
    def fixed_chars(self) -> int:
        return len(self.system.text) + self.tools_chars

    @property
    def tool_chars(self) -> int:
        return self.tools_chars

    def runnable(self, shown: set[str]) -> Runnable[Any, Any]:
        return self.bound

    def read(self, raw: Any) -> Reading:
        if not isinstance(raw, AIMessage):
            return Reading(unusable=f"the model returned {type(raw).__name__}, not a message")
        text = raw.text
        native = [dict(c) for c in raw.tool_calls]
        calls = [c for c in native if c.get("name") != NO_CHANGES_TOOL]
        invalid = [dict(c) for c in raw.invalid_tool_calls]
        if native or invalid:
            all_ids = all(c.get("id") for c in [*native, *invalid])
            return Reading(calls, invalid, text=text, message=raw, native_ids=all_ids)
        found = self._from_text(text, "text_call_")  # tool calls written out as text
        if not found.empty or found.found_json:
            return Reading.of(found, text, raw)
        if not text.strip():
            if self.forced:
                return Reading(message=raw, unusable="an empty reply without the required call")
            return Reading(message=raw)  # no call: the model's way of saying "nothing"
        return Reading(
            text=text, message=raw, unusable=f"a reply in prose without tool calls: {_quote(text)}"
        )

    def corrections(
        self, messages: list[BaseMessage], reading: Reading, parsed: ParsedReply
    ) -> list[list[BaseMessage]]:
        described = self.described_correction(messages, reading, parsed)
        if not reading.native_ids or reading.message is None:
            return [described]
        return [self._tool_results(messages, reading.message, parsed), described]

    @staticmethod
    def _tool_results(
        messages: list[BaseMessage], reply: AIMessage, parsed: ParsedReply
    ) -> list[BaseMessage]:
        """The reply and a tool result for each of its calls, then the request to correct."""
        errors = dict(parsed.errors)
        results: list[BaseMessage] = []
        answered: set[str] = set()
        for call in [*reply.tool_calls, *reply.invalid_tool_calls]:
            call_id = call.get("id") or ""
            if call_id in answered:
                continue
            answered.add(call_id)
            text = f"Rejected: {errors[call_id]}" if call_id in errors else "Accepted."
            results.append(ToolMessage(content=text, tool_call_id=call_id))
        # Strict servers reject an assistant turn whose content is null, which is what an
        # empty content becomes next to tool calls on the wire; say what the turn did instead.
        names = [c.get("name") or "?" for c in [*reply.tool_calls, *reply.invalid_tool_calls]]
        assistant = AIMessage(
            content=reply.text or "Calling " + ", ".join(dict.fromkeys(names)) + ".",
            tool_calls=reply.tool_calls,
            invalid_tool_calls=reply.invalid_tool_calls,
        )
        unanswered = [msg for cid, msg in parsed.errors if not cid]
        follow_up = prompts.RETRY_PROMPT
        if unanswered:
            follow_up = "Rejected calls:\n- " + "\n- ".join(unanswered) + "\n\n" + follow_up
        return [*messages, assistant, *results, HumanMessage(follow_up)]


class _JsonAnswerMode(OutputMode):
    """Modes whose answer is ``{"calls": [...]}`` written as JSON."""

    def system_text(self, instructions: str) -> str:
        return super().system_text(instructions) + "\n\n" + format_instructions(self.toolkit)

    def read(self, raw: Any) -> Reading:
        parsed: Any = None
        if isinstance(raw, dict) and "raw" in raw:  # with_structured_output(include_raw=True)
            raw, parsed = raw["raw"], raw.get("parsed")
        if not isinstance(raw, AIMessage):
            return Reading(unusable=f"the model returned {type(raw).__name__}, not a message")
        text = raw.text
        if isinstance(parsed, (dict, list)):
            found = calls_in(
                [parsed], self.tool_names, default_name=self.default_name, id_prefix="json_call_"
            )
        else:
            found = self._from_text(text, "json_call_")
            if found.empty and not found.found_json and raw.tool_calls:
                # Some integrations implement structured output as a forced tool call.
                found = calls_in(
                    [c["args"] for c in raw.tool_calls],
                    self.tool_names,
                    default_name=self.default_name,
                    id_prefix="json_call_",
                )
        if found.empty and not found.found_json:
            why = f"prose without JSON: {_quote(text)}" if text.strip() else "an empty reply"
            return Reading(text=text, message=raw, unusable=why)
        return Reading.of(found, text, raw)


class JsonSchemaMode(_JsonAnswerMode):
    name = "json_schema"
    hint = (
        "The server may have ignored the JSON schema (response_format); pass "
        "extraction_mode='text', or serve the model with constrained output (llama.cpp, vLLM, "
        "Ollama and LM Studio support it)."
    )

    def __init__(self, model: BaseChatModel, toolkit: SchemaToolkit, instructions: str) -> None:
        super().__init__(model, toolkit, instructions)
        self.runnable(set())  # fails here, once, if the integration has no JSON-schema output

    def runnable(self, shown: set[str]) -> Runnable[Any, Any]:
        # Built per call: the ids an update or a forget may name are the ones shown this time.
        try:
            return self.model.with_structured_output(
                calls_schema(self.toolkit, shown), method="json_schema", include_raw=True
            )
        except _BIND_ERRORS as exc:
            raise ModeUnavailable(f"with_structured_output(method='json_schema'): {exc}") from exc


class JsonMode(_JsonAnswerMode):
    name = "json"
    hint = (
        "The server may have ignored JSON mode (response_format json_object); pass "
        "extraction_mode='text' or use a larger instruction-tuned model."
    )

    def __init__(self, model: BaseChatModel, toolkit: SchemaToolkit, instructions: str) -> None:
        super().__init__(model, toolkit, instructions)
        try:
            self.bound = model.with_structured_output(
                calls_schema(toolkit, None), method="json_mode", include_raw=True
            )
        except _BIND_ERRORS as exc:
            raise ModeUnavailable(f"with_structured_output(method='json_mode'): {exc}") from exc

    def runnable(self, shown: set[str]) -> Runnable[Any, Any]:
        return self.bound


class TextMode(_JsonAnswerMode):
    name = "text"
    hint = (
        "The model did not write the JSON it was asked for; use a larger instruction-tuned "
        "model, or a server with tool calling or JSON-schema output."
    )

    @property
    def demands_structure(self) -> bool:
        return False  # the last resort: nothing left to move on to

    def runnable(self, shown: set[str]) -> Runnable[Any, Any]:
        return self.model


def build_mode(
    name: ModeName,
    model: BaseChatModel,
    toolkit: SchemaToolkit,
    instructions: str,
    *,
    force_tool_choice: bool,
) -> OutputMode:
    """The mode ``name`` for this model; :class:`ModeUnavailable` if its integration lacks it."""
    if name == "tools":
        return ToolsMode(model, toolkit, instructions, forced=force_tool_choice)
    if name == "json_schema":
        return JsonSchemaMode(model, toolkit, instructions)
    if name == "json":
        return JsonMode(model, toolkit, instructions)
    return TextMode(model, toolkit, instructions)
