"""A provider's exception from a model call, as a :class:`ProviderError` that says what to do.

Providers raise their own exception types (openai, anthropic, httpx, a local server's HTTP 500);
Reverie depends on none of them, so a failure is recognised by its class name, its HTTP status
as providers print it ("Error code: 400") and the words of its message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reverie.core.errors import ProviderError

# Kinds that mean "this server cannot do what this extraction mode asks": the automatic mode
# moves on to the next mode instead of failing.
MODE_UNSUPPORTED = frozenset({"unsupported_tools", "unsupported_tool_choice", "unsupported_format"})

_STATUS = re.compile(r"(?:error code|status(?: code)?|http)[:= ]+(\d{3})\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Rule:
    kind: str
    class_names: tuple[str, ...]
    words: tuple[str, ...]
    advice: str


_RULES = (
    _Rule(
        "output_truncated",
        ("LengthFinishReasonError",),
        ("length limit was reached", "finish_reason='length'", 'finish_reason": "length'),
        "The reply was cut off at the output token limit. Raise the chat model's max_tokens "
        "(e.g. ChatOpenAI(max_tokens=1024)) or the server's limit (llama.cpp: -n).",
    ),
    _Rule(
        "context_too_long",
        ("ContextWindowExceededError",),
        (
            "context length",
            "context_length_exceeded",
            "maximum context",
            "context size",
            "context window",
            "prompt is too long",
            "too many tokens",
            "exceeds the context",
            "n_ctx",
        ),
        "The prompt does not fit the model's context window. Lower the manager's token_budget "
        "(e.g. token_budget=2000) or start the server with a larger context (llama.cpp: -c 8192; "
        "Ollama: num_ctx).",
    ),
    _Rule(
        "unsupported_tool_choice",
        (),
        ("tool_choice", "tool choice", "enable-auto-tool-choice"),
        "The server does not accept the tool_choice Reverie sent. Pass "
        "extraction_mode='json_schema' (or 'text'), or enable forced tool choice on the server "
        "(vLLM: --enable-auto-tool-choice --tool-call-parser ...).",
    ),
    _Rule(
        "unsupported_tools",
        (),
        (
            "does not support tools",
            "tools are not supported",
            "tool calling is not supported",
            "tool-call-parser",
            "function calling is not",
            "does not support function",
        ),
        "This model or server does not take tools. Pass extraction_mode='json_schema' (or "
        "'text'), or pick a model with tool support (llama.cpp: --jinja with a tool-capable "
        "chat template).",
    ),
    _Rule(
        "unsupported_format",
        (),
        ("response_format", "json_schema", "json_object", "structured output", "grammar"),
        "The server does not accept this response format. Pass extraction_mode='json' or "
        "'text' to ask for JSON in plain text.",
    ),
    _Rule(
        "rate_limited",
        ("RateLimitError",),
        ("rate limit", "rate_limit", "too many requests", "quota", "overloaded"),
        "The provider is limiting requests. Retry later, lower concurrency (one "
        "ReflectionExecutor per process, debounced submits), or raise your quota.",
    ),
    _Rule(
        "authentication",
        ("AuthenticationError", "PermissionDeniedError"),
        ("api key", "api_key", "unauthorized", "invalid_api_key", "permission denied"),
        "The provider refused the credentials. Check the API key (e.g. OPENAI_API_KEY); local "
        "OpenAI-compatible servers accept any non-empty key.",
    ),
    _Rule(
        "not_found",
        ("NotFoundError",),
        ("model not found", "does not exist", "no such model", "unknown model"),
        "The provider does not know this model name. Check the 'provider:model' string, or the "
        "name your server lists at /v1/models.",
    ),
    _Rule(
        "connection",
        ("APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout", "Timeout"),
        ("connection refused", "connection error", "timed out", "name or service not known"),
        "The model server could not be reached. Check it is running and that the base URL "
        "(e.g. OPENAI_BASE_URL=http://127.0.0.1:8080/v1) points at it.",
    ),
)

_ADVICE = {rule.kind: rule.advice for rule in _RULES}

_BY_STATUS = {
    400: "The provider rejected the request as malformed.",
    422: "The provider rejected the request as malformed.",
    500: "The model server failed on this request; its log says why.",
    502: "The model server is unavailable; retry later.",
    503: "The model server is unavailable; retry later.",
}


def status_of(text: str) -> int | None:
    match = _STATUS.search(text)
    return int(match.group(1)) if match else None


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, advice) for a provider's exception."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc).lower()
    status = status_of(text)
    for rule in _RULES:
        if names.intersection(rule.class_names):
            return rule.kind, rule.advice
    for rule in _RULES:
        if any(word in text for word in rule.words):
            # Words about tools or formats only mean "unsupported" in a refusal, not in a
            # server's crash report or a rate-limit notice that happens to quote the request.
            if rule.kind in MODE_UNSUPPORTED and status is not None and status >= 500:
                continue
            return rule.kind, rule.advice
    if status == 429:
        return "rate_limited", _ADVICE["rate_limited"]
    if status in (401, 403):
        return "authentication", _ADVICE["authentication"]
    if status is not None and status >= 500:
        return "server_error", _BY_STATUS.get(status, _BY_STATUS[500])
    if status is not None and status >= 400:
        return "bad_request", _BY_STATUS[400]
    return "unknown", "See the provider's message above."


def provider_error(exc: BaseException, *, mode: str, during: str = "model call") -> ProviderError:
    """The :class:`ProviderError` for ``exc``; raise it ``from exc`` to keep the cause."""
    kind, advice = classify(exc)
    detail = " ".join(str(exc).split())
    if len(detail) > 600:
        detail = detail[:597] + "..."
    message = (
        f"The {during} failed ({mode} mode, {kind.replace('_', ' ')}): "
        f"{type(exc).__name__}: {detail or 'no message'}. {advice}"
    )
    return ProviderError(message, kind=kind, mode=mode)
