"""Counting what a run asks of the model and of the embedder.

Tokens come from the provider: LangChain puts them in the reply's ``usage_metadata``. A reply
without them (some OpenAI-compatible servers, older integrations) is counted offline the way
Reverie's replay benchmark counts every system: langchain-core's ``count_tokens_approximately``
on the exact messages sent, plus the JSON of the tools bound to the call at about four
characters a token; the report then says ``tokens_estimated``.

Embeddings happen inside the store, so a run counts what it *asks* the store to embed: one
query per search, and per commit the memories it writes with an index (a store without an
embedder embeds none of them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.store.base import PutOp

from reverie.core.ports import Write
from reverie.extraction.prompts import QUERY_TOOL
from reverie.extraction.report import RunReport
from reverie.ledger.thread_state import Rendered


def reply_message(raw: Any) -> AIMessage | None:
    """The model's message in what a call returned (structured output wraps it as ``raw``)."""
    if isinstance(raw, AIMessage):
        return raw
    message = raw.get("raw") if isinstance(raw, dict) else None
    return message if isinstance(message, AIMessage) else None


def record_reply(
    report: RunReport,
    raw: Any,
    messages: Sequence[BaseMessage],
    model: BaseChatModel,
    *,
    tool_chars: int = 0,
) -> None:
    """Add one extraction call's tokens to ``report``: the provider's figures, else counted
    ones (``tool_chars``: the JSON of the tools bound to the call)."""
    message = reply_message(raw)
    _record_tokens(report, message, messages, tool_chars)
    if report.model_name is None:
        report.model_name = model_name(message, model)


def record_query_reply(report: RunReport, raw: Any, messages: Sequence[BaseMessage]) -> None:
    """One call of the query model (which searches to run), counted like an extraction call."""
    report.query_calls += 1
    _record_tokens(report, reply_message(raw), messages, _query_tool_chars())


def _record_tokens(
    report: RunReport,
    message: AIMessage | None,
    messages: Sequence[BaseMessage],
    tool_chars: int,
) -> None:
    usage = message.usage_metadata if message is not None else None
    if usage:
        report.record_tokens(
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            estimated=False,
        )
        return
    report.record_tokens(
        count_tokens_approximately(messages) + (tool_chars + 3) // 4,
        count_tokens_approximately([message]) if message is not None else 0,
        estimated=True,
    )


@lru_cache(maxsize=1)
def _query_tool_chars() -> int:
    return len(json.dumps([convert_to_openai_tool(QUERY_TOOL)], separators=(",", ":")))


def model_name(message: AIMessage | None, model: BaseChatModel) -> str | None:
    """The model's name as the provider reported it, else as the chat model was configured."""
    if message is not None:
        for key in ("model_name", "model"):
            name = message.response_metadata.get(key)
            if isinstance(name, str) and name:
                return name
    # LangChain's integrations name the field either way (ChatOpenAI: model_name; ChatAnthropic,
    # ChatOllama: model); both are their public, documented constructor fields.
    for attribute in ("model_name", "model"):
        name = getattr(model, attribute, None)
        if isinstance(name, str) and name:
            return name
    return None


def record_searches(report: RunReport, queries: int) -> None:
    """Each search with a query asks the store to embed that query."""
    report.embedding_calls += queries
    report.embedded_texts += queries


def record_writes(report: RunReport, writes: Sequence[Write]) -> None:
    """A commit asks the store to embed the indexed texts of its writes, in one request."""
    texts = 0
    for write in writes:
        if isinstance(write, PutOp) and write.value is not None and write.index is not False:
            texts += len(write.index) if isinstance(write.index, list) else 1
    if texts:
        report.embedding_calls += 1
        report.embedded_texts += texts


def count_truncated(new: Sequence[Rendered], chunks: Sequence[Sequence[Rendered]]) -> int:
    """How many messages chunking cut to fit the token budget (their lines changed)."""
    whole = {m.line for m in new}
    return sum(1 for chunk in chunks for m in chunk if m.line not in whole)
