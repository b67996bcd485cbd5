"""``create_thread_extractor``: a whole conversation into one structured record (by default a
title and a summary), through one forced tool call.

One pipeline for ``invoke`` and ``ainvoke``; a reply that does not fit the schema is sent back
once with the validation errors before giving up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, PydanticUserError, TypeAdapter, ValidationError

from reverie.core.effects import Invoke, Pipeline, arun, run
from reverie.core.errors import ConfigurationError, InputError, ModelOutputError
from reverie.extraction.messages import render_messages
from reverie.extraction.models import resolve_chat_model
from reverie.extraction.run_config import messages_of

DEFAULT_THREAD_INSTRUCTIONS = "Summarize the conversation for someone who will pick it up later."
CONVERSATION_REQUEST = "Call {tool} once for the conversation below.\n\n<conversation>\n{conversation}\n</conversation>"
RETRY_REQUEST = (
    "The call was rejected (see the tool result). Call {tool} again with valid arguments."
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class SummarizeThread(BaseModel):
    """Record the title and summary of a conversation."""

    title: str = Field(description="A few words naming what the conversation was about.")
    summary: str = Field(description="What was asked, found, decided and left open.")


class _Schema:
    """The tool one schema becomes, and how a call's arguments are read back."""

    def __init__(self, schema: Any) -> None:
        self.adapter: TypeAdapter[Any] | None = None
        self.required: frozenset[str] = frozenset()
        if isinstance(schema, Mapping):
            if not isinstance(schema.get("title"), str) or "properties" not in schema:
                raise ConfigurationError(
                    "A JSON-schema dict needs a 'title' (the tool name) and 'properties'."
                )
            self.required = frozenset(schema.get("required") or ())
        elif isinstance(schema, type) and issubclass(schema, BaseModel):
            self.adapter = TypeAdapter(schema)
        elif isinstance(schema, type) and hasattr(schema, "__required_keys__"):
            try:
                self.adapter = TypeAdapter(schema)
            except PydanticUserError:
                # typing.TypedDict before Python 3.12: pydantic cannot validate it; check keys.
                self.required = frozenset(schema.__required_keys__)
        else:
            raise ConfigurationError(
                f"schema must be a pydantic model class, a TypedDict or a JSON-schema dict, got "
                f"{schema!r:.100}."
            )
        self.tool = convert_to_openai_tool(schema)
        self.name = str(self.tool["function"]["name"])

    def read(self, args: Any) -> Any:
        if self.adapter is not None:
            return self.adapter.validate_python(args)
        if not isinstance(args, dict):
            raise ValueError("arguments must be a JSON object")
        missing = sorted(self.required - set(args))
        if missing:
            raise ValueError(f"missing required fields {missing}")
        return args


def _fill(instructions: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders that the input provides; leave any other braces alone."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), instructions
    )


class ThreadExtractor(Runnable[Any, Any]):
    """Runnable from ``{"messages": [...], **template values}`` to one instance of the schema."""

    def __init__(self, model: str | BaseChatModel, schema: Any, instructions: str) -> None:
        if not isinstance(instructions, str):
            raise ConfigurationError("instructions must be a string.")
        self.schema = _Schema(SummarizeThread if schema is None else schema)
        self.model = resolve_chat_model(model)
        self.instructions = instructions
        self.bound = self.model.bind_tools([self.schema.tool], tool_choice=self.schema.name)

    def _prompt(self, input: Any) -> list[BaseMessage]:
        messages = messages_of(input)
        lines = [m.line for m in render_messages(messages)]
        if not lines:
            raise InputError("The conversation has no messages with text to extract from.")
        values = (
            {k: v for k, v in input.items() if k != "messages"}
            if isinstance(input, Mapping)
            else {}
        )
        return [
            SystemMessage(_fill(self.instructions, values)),
            HumanMessage(
                CONVERSATION_REQUEST.format(tool=self.schema.name, conversation="\n".join(lines))
            ),
        ]

    def _read(self, reply: Any) -> tuple[Any, str | None, str]:
        """(the record or None, the rejected call's id, why it was rejected)."""
        calls = (
            [c for c in reply.tool_calls if c.get("name") == self.schema.name]
            if isinstance(reply, AIMessage)
            else []
        )
        if not calls:
            return None, None, f"no {self.schema.name} call"
        try:
            return self.schema.read(calls[0].get("args")), None, ""
        except (ValidationError, ValueError) as exc:
            return None, calls[0].get("id"), str(exc)

    def _pipeline(self, input: Any, config: RunnableConfig | None) -> Pipeline[Any]:
        prompt = self._prompt(input)
        reply = yield from Invoke(self.bound, prompt, config)
        record, call_id, problem = self._read(reply)
        if record is not None:
            return record
        retry = [*prompt, reply]
        if call_id:
            retry.append(ToolMessage(f"Rejected: {problem}", tool_call_id=call_id))
        retry.append(HumanMessage(RETRY_REQUEST.format(tool=self.schema.name)))
        reply = yield from Invoke(self.bound, retry, config)
        record, _, problem = self._read(reply)
        if record is None:
            raise ModelOutputError(
                f"The model did not return a valid {self.schema.name}, even after one correction "
                f"request ({problem:.300}). Check the model supports tool calling, or simplify "
                "the schema."
            )
        return record

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return run(self._pipeline(input, config))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await arun(self._pipeline(input, config))


def create_thread_extractor(
    model: str | BaseChatModel,
    /,
    schema: type[BaseModel] | Mapping[str, Any] | type | None = None,
    instructions: str = DEFAULT_THREAD_INSTRUCTIONS,
) -> ThreadExtractor:
    """A runnable that turns a conversation into one record of ``schema``.

    Input ``{"messages": [...]}`` plus any values the ``instructions`` name as ``{placeholders}``;
    output an instance of ``schema`` (a pydantic model class; a TypedDict or a JSON-schema dict
    give a dict). Without a schema the record is a :class:`SummarizeThread` (``title``,
    ``summary``).
    """
    return ThreadExtractor(model, schema, instructions)


__all__ = ["SummarizeThread", "ThreadExtractor", "create_thread_extractor"]
