"""A real LangChain chat model whose replies a test (or a benchmark) decides.

It goes through the same ``BaseChatModel`` machinery as a provider model (callbacks, ``bind_tools``,
``with_structured_output``, sync and async), records every call with its input size, and never
touches the network.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


def tool_call(name: str, args: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """Build a tool call for a scripted reply: ``AIMessage(content="", tool_calls=[tool_call(...)])``."""
    return {
        "name": name,
        "args": args,
        "id": id or f"call_{uuid.uuid4().hex[:12]}",
        "type": "tool_call",
    }


@dataclass(frozen=True)
class ScriptedRequest:
    """What the model was asked: the messages, the tools bound to this call and, for structured
    output, the method ("json_schema" or "json_mode") and JSON schema asked for."""

    messages: list[BaseMessage]
    tools: list[dict[str, Any]]
    tool_choice: Any = None
    structured_method: str | None = None
    schema: dict[str, Any] | None = None

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", t).get("name", "") for t in self.tools]

    @property
    def text(self) -> str:
        """All message text joined, convenient for ``in`` checks."""
        return "\n".join(m.text for m in self.messages)


@dataclass(frozen=True)
class ScriptedCall:
    """One recorded call with its size, measured the same way for every system under test."""

    request: ScriptedRequest
    reply: AIMessage
    input_chars: int
    input_tokens: int
    tool_schema_chars: int
    output_tokens: int
    started: float = field(default_factory=time.perf_counter)


Reply = AIMessage | str | dict[str, Any] | list[dict[str, Any]] | None
Responder = Callable[[ScriptedRequest], Reply]


def _to_message(reply: Reply) -> AIMessage:
    if reply is None:
        return AIMessage(content="")
    if isinstance(reply, AIMessage):
        return reply
    if isinstance(reply, str):
        return AIMessage(content=reply)
    if isinstance(reply, dict):
        return AIMessage(content="", tool_calls=[_normalise_call(reply)])
    return AIMessage(content="", tool_calls=[_normalise_call(c) for c in reply])


def _normalise_call(call: dict[str, Any]) -> dict[str, Any]:
    return tool_call(call["name"], call.get("args", {}), call.get("id"))


# A model that calls tools when it chooses to (it does not enforce a forced tool_choice) and
# supports structured output. Pass ``profile={}`` to script a model whose abilities are unknown
# (as a local OpenAI-compatible server's are), or ``{"tool_calling": False}`` one without tools.
DEFAULT_PROFILE: ModelProfile = {
    "tool_calling": True,
    "tool_choice": False,
    "structured_output": True,
}


def _structured(message: AIMessage, include_raw: bool) -> Any:
    """What ``with_structured_output`` returns for ``message``: parsed JSON (and the raw reply)."""
    parsed: Any = None
    error: Exception | None = None
    try:
        parsed = json.loads(message.text)
    except json.JSONDecodeError as exc:
        error = exc
    if include_raw:
        return {"raw": message, "parsed": parsed, "parsing_error": error}
    if error is not None:
        raise error
    return parsed


class ScriptedChatModel(BaseChatModel):
    """A chat model driven by a script instead of a provider.

    Give it either ``responder`` (a function of the :class:`ScriptedRequest` returning an
    ``AIMessage``, a text, one tool call dict or a list of them) or ``replies`` (used in order; the
    last one repeats). Every call is appended to :attr:`calls`. Structured output
    (``with_structured_output(method="json_schema" | "json_mode")``) records the schema in the
    request and parses the scripted reply's text as JSON, as a provider does. Replies carry
    ``usage_metadata`` with the recorded token counts (``reports_usage=False``: none) and the
    ``model_name`` in their ``response_metadata``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    profile: ModelProfile | None = Field(default_factory=lambda: dict(DEFAULT_PROFILE))  # type: ignore[assignment]

    responder: Any = None
    replies: list[Any] = Field(default_factory=list)
    latency_seconds: float = 0.0
    model_name: str = "scripted"
    # Whether replies carry ``usage_metadata`` (token counts) as most providers' do; False
    # scripts a server that reports none, so the caller has to count tokens itself.
    reports_usage: bool = True

    _calls: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next_reply_index: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "reverie-scripted"

    @property
    def calls(self) -> list[ScriptedCall]:
        with self._lock:
            return list(self._calls)

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.calls)

    @property
    def input_chars(self) -> int:
        return sum(c.input_chars for c in self.calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._next_reply_index = 0

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: str = "json_schema",
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        if method == "function_calling":
            if schema is None:
                raise ValueError("function_calling needs a schema")
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_schema", "json_mode"):
            raise ValueError(f"Unsupported structured output method {method!r}")
        as_dict = (
            schema
            if isinstance(schema, dict) or schema is None
            else convert_to_json_schema(cast(type[BaseModel], schema))
        )
        bound = self.bind(structured_method=method, schema=as_dict)
        return bound | RunnableLambda(partial(_structured, include_raw=include_raw))

    def _next_reply(self, request: ScriptedRequest) -> AIMessage:
        if self.responder is not None:
            return _to_message(self.responder(request))
        with self._lock:
            if not self.replies:
                return AIMessage(content="")
            index = min(self._next_reply_index, len(self.replies) - 1)
            self._next_reply_index += 1
            reply = self.replies[index]
        return _to_message(reply)

    def _record(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        tools = list(kwargs.get("tools") or [])
        request = ScriptedRequest(
            list(messages),
            tools,
            kwargs.get("tool_choice"),
            kwargs.get("structured_method"),
            kwargs.get("schema"),
        )
        reply = self._next_reply(request)
        tool_chars = len(json.dumps(tools, separators=(",", ":"))) if tools else 0
        message_chars = sum(
            len(m.text) + len(json.dumps(m.tool_calls))
            if isinstance(m, AIMessage) and m.tool_calls
            else len(m.text)
            for m in messages
        )
        input_tokens = count_tokens_approximately(messages) + (tool_chars + 3) // 4
        output_tokens = count_tokens_approximately([reply])
        call = ScriptedCall(
            request=request,
            reply=reply,
            input_chars=message_chars + tool_chars,
            input_tokens=input_tokens,
            tool_schema_chars=tool_chars,
            output_tokens=output_tokens,
        )
        with self._lock:
            self._calls.append(call)
        update: dict[str, Any] = {
            "response_metadata": {**reply.response_metadata, "model_name": self.model_name}
        }
        if self.reports_usage:
            update["usage_metadata"] = {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            }
        message = reply.model_copy(update=update)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        return self._record(messages, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        return self._record(messages, kwargs)
