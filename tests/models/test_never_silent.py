"""A run that stores nothing says why: unusable replies warn (or raise), provider errors become
Reverie errors, and a correction round a strict server refuses is asked again in plain text."""

from __future__ import annotations

import logging

import pytest
from langchain_core.messages import AIMessage

from reverie import create_memory_store_manager
from reverie.core.errors import ModelOutputError, ProviderError, UnusableReplyError
from reverie.extraction.mode_policy import ExtractionMode
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.models.helpers import CONFIG, DOGS, answer, contents, is_correction, store_with

PROSE = "That's great! Fido sounds like a wonderful dog."


@pytest.mark.parametrize("mode", ["tools", "json_schema", "json", "text"])
def test_a_prose_reply_is_a_warning_with_a_hint_never_silence(
    mode: ExtractionMode, caplog: pytest.LogCaptureFixture
) -> None:
    model = ScriptedChatModel(profile={}, replies=[PROSE])
    store = store_with("User likes tea")
    manager = create_memory_store_manager(model, store=store, extraction_mode=mode)
    with caplog.at_level(logging.WARNING, logger="reverie.extraction"):
        written = manager.invoke({"messages": DOGS}, CONFIG)
    assert written == []
    report = written.report
    assert report.unusable_replies == 1 and report.nothing_stored == "unusable_reply"
    assert report.why_nothing_stored == "the model's reply could not be read as memory operations"
    assert f"({mode} mode): a reply in prose" in caplog.text or "prose without JSON" in caplog.text
    assert "extraction_mode=" in caplog.text or "larger instruction-tuned model" in caplog.text
    assert report.warnings and len(model.calls) == 1
    assert contents(store) == ["User likes tea"]


def test_unusable_replies_can_raise_instead() -> None:
    model = ScriptedChatModel(profile={}, replies=[""])
    manager = create_memory_store_manager(
        model, store=store_with(), extraction_mode="tools", on_unusable_reply="raise"
    )
    with pytest.raises(UnusableReplyError, match="an empty reply without the required call"):
        manager.invoke({"messages": DOGS}, CONFIG)


def test_auto_mode_tries_every_mode_before_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedChatModel(profile={}, replies=[PROSE])
    with caplog.at_level(logging.WARNING, logger="reverie.extraction"):
        written = create_memory_store_manager(model, store=store_with()).invoke(
            {"messages": DOGS}, CONFIG
        )
    assert written.report.modes == ["tools", "json_schema", "json", "text"]
    assert len(written.report.fallbacks) == 3
    assert written.report.nothing_stored == "unusable_reply"
    assert "(text mode)" in caplog.text


def test_an_empty_reply_to_an_unforced_tool_request_is_a_decision_not_a_failure() -> None:
    model = ScriptedChatModel(replies=[AIMessage(content="")])
    written = create_memory_store_manager(model, store=store_with()).invoke(
        {"messages": DOGS}, CONFIG
    )
    assert written.report.nothing_stored == "nothing_to_remember"
    assert written.report.warnings == [] and written.report.unusable_replies == 0


def test_a_run_with_nothing_new_says_so() -> None:
    model = ScriptedChatModel(replies=[tool_call("Memory", {"content": "User likes dogs"})])
    manager = create_memory_store_manager(model, store=store_with())
    assert manager.invoke({"messages": DOGS}, CONFIG).report.nothing_stored is None
    again = manager.invoke({"messages": DOGS}, CONFIG)
    assert again.report.nothing_stored == "no_new_messages" and again.report.model_calls == 0


def test_operations_that_change_nothing_say_so() -> None:
    model = ScriptedChatModel(
        replies=[tool_call("Memory", {"content": "User likes tea", "memory_id": "1"})]
    )
    written = create_memory_store_manager(model, store=store_with("User likes tea")).invoke(
        {"messages": DOGS}, CONFIG
    )
    assert written.report.nothing_stored == "no_change" and written.report.operations == 1


class ProviderBoom(Exception):
    """Stands in for a provider SDK's exception (the library knows none of them)."""


def raises(message: str, name: str = "ProviderBoom") -> Exception:
    return type(name, (ProviderBoom,), {})(message)


@pytest.mark.parametrize(
    ("error", "kind", "advice"),
    [
        (
            raises(
                "Error code: 400 - request (3031 tokens) exceeds the available context size (2048 tokens)",
                "BadRequestError",
            ),
            "context_too_long",
            "token_budget",
        ),
        (raises("Error code: 429 - slow down", "RateLimitError"), "rate_limited", "Retry later"),
        (
            raises(
                "Could not parse response content as the length limit was reached",
                "LengthFinishReasonError",
            ),
            "output_truncated",
            "max_tokens",
        ),
        (
            raises(
                'Error code: 400 - {"message": "\\"auto\\" tool choice requires --enable-auto-tool-choice"}'
            ),
            "unsupported_tool_choice",
            "extraction_mode='json_schema'",
        ),
        (
            raises("Error code: 500 - 'NoneType' object has no attribute 'strip'"),
            "server_error",
            "its log",
        ),
        (raises("Connection error.", "APIConnectionError"), "connection", "OPENAI_BASE_URL"),
        (
            raises("Error code: 401 - invalid key", "AuthenticationError"),
            "authentication",
            "API key",
        ),
    ],
    ids=["context", "rate", "truncated", "tool-choice", "server", "connection", "auth"],
)
def test_provider_errors_become_reverie_errors_with_advice(
    error: Exception, kind: str, advice: str
) -> None:
    def fail(request: ScriptedRequest) -> None:
        raise error

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=fail), store=store_with(), extraction_mode="tools"
    )
    with pytest.raises(ProviderError) as caught:
        manager.invoke({"messages": DOGS}, CONFIG)
    assert caught.value.kind == kind and caught.value.mode == "tools"
    assert advice in str(caught.value)
    assert caught.value.__cause__ is error


def test_auto_mode_moves_on_when_the_server_refuses_tools() -> None:
    def server(request: ScriptedRequest) -> str:
        if request.tools:
            raise raises('Error code: 400 - {"error": "llama3 does not support tools"}')
        return answer(("Memory", {"content": "User likes dogs"}))

    store = store_with()
    written = create_memory_store_manager(
        ScriptedChatModel(profile={}, responder=server), store=store
    ).invoke({"messages": DOGS}, CONFIG)
    assert written.report.fallbacks == ["tools -> json_schema: unsupported_tools"]
    assert contents(store) == ["User likes dogs"]


def strict_server(request: ScriptedRequest) -> object:
    """Rejects tool messages in the correction round, as llama-cpp-python's server does."""
    if any(m.type == "tool" for m in request.messages):
        raise raises("Error code: 500 - {'error': 'Internal Server Error'}")
    if is_correction(request):
        return tool_call("Memory", {"content": "User has a dog named Fido"})
    return [
        tool_call("Memory", {"content": "User likes dogs"}),
        tool_call("Memory", {"content": "User's dog", "memory_id": "Fido"}),
    ]


def test_a_refused_correction_round_is_asked_again_in_plain_text() -> None:
    asked: list[ScriptedRequest] = []

    def server(request: ScriptedRequest) -> object:
        asked.append(request)
        return strict_server(request)

    model = ScriptedChatModel(responder=server)
    store = store_with()
    written = create_memory_store_manager(model, store=store).invoke({"messages": DOGS}, CONFIG)
    first, with_tools, in_text = asked
    # The tool-result shape never sends an assistant turn with empty (null) content.
    assistant = next(m for m in with_tools.messages if m.type == "ai")
    assert assistant.text == "Calling Memory."
    assert [m.type for m in in_text.messages] == ["system", "human", "ai", "human"]
    assert "Rejected calls:\n- Unknown memory_id 'Fido'" in in_text.messages[-1].text
    assert contents(store) == ["User has a dog named Fido", "User likes dogs"]
    assert written.report.model_calls == 2  # the refused request got no reply


def test_a_correction_round_that_keeps_failing_keeps_the_valid_operations(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def server(request: ScriptedRequest) -> object:
        if is_correction(request):
            raise raises("Error code: 500 - boom")
        return strict_server(request)

    store = store_with()
    with caplog.at_level(logging.WARNING, logger="reverie.extraction"):
        written = create_memory_store_manager(
            ScriptedChatModel(responder=server), store=store
        ).invoke({"messages": DOGS}, CONFIG)
    assert contents(store) == ["User likes dogs"]
    assert (
        "correction request failed" in caplog.text and "1 valid operations were kept" in caplog.text
    )
    assert written.report.warnings


def test_a_failed_correction_with_nothing_valid_is_a_provider_error() -> None:
    def server(request: ScriptedRequest) -> object:
        if is_correction(request):
            raise raises("Error code: 500 - boom")
        return tool_call("Memory", {"content": "x", "memory_id": "Mirror"})

    store = store_with()
    with pytest.raises(ProviderError, match="correction request failed") as caught:
        create_memory_store_manager(ScriptedChatModel(responder=server), store=store).invoke(
            {"messages": DOGS}, CONFIG
        )
    assert isinstance(caught.value.__cause__, ProviderBoom)
    assert contents(store) == []


def test_provider_errors_are_still_runtime_errors_for_callers_that_catch_those() -> None:
    def fail(request: ScriptedRequest) -> None:
        raise RuntimeError("provider is down")

    manager = create_memory_store_manager(ScriptedChatModel(responder=fail), store=store_with())
    with pytest.raises(RuntimeError, match="provider is down"):
        manager.invoke({"messages": DOGS}, CONFIG)


def test_all_invalid_is_still_the_model_output_error() -> None:
    model = ScriptedChatModel(replies=[tool_call("Memory", {"content": "x", "memory_id": "Fido"})])
    with pytest.raises(ModelOutputError, match="all invalid"):
        create_memory_store_manager(model, store=store_with()).invoke({"messages": DOGS}, CONFIG)
