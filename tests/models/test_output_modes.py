"""Each extraction mode with a scripted model: what is asked, what is read, what is recorded."""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

import pytest
from langchain_core.language_models import ModelProfile
from langchain_core.messages import AIMessage

from reverie import ModelOutputError, create_memory_manager, create_memory_store_manager
from reverie.core.errors import ConfigurationError
from reverie.extraction.mode_policy import ExtractionMode
from reverie.extraction.report import ReportedList
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import shown_memories
from tests.models.helpers import (
    CONFIG,
    DOGS,
    answer,
    contents,
    is_correction,
    is_tools_request,
    store_with,
)

KNOWN_TOOL_CALLER: ModelProfile = {
    "tool_calling": True,
    "tool_choice": True,
    "structured_output": True,
}


def test_a_known_tool_caller_is_asked_with_forced_tool_choice_and_a_way_to_say_nothing() -> None:
    model = ScriptedChatModel(profile=KNOWN_TOOL_CALLER, replies=[tool_call("no_changes", {})])
    store = store_with()
    written = create_memory_store_manager(model, store=store).invoke({"messages": DOGS}, CONFIG)
    (call,) = model.calls
    assert call.request.tool_choice == "any"
    assert call.request.tool_names == ["Memory", "no_changes"]
    assert "call only no_changes" in call.request.text
    assert written == [] and isinstance(written, ReportedList)
    assert written.report.mode == "tools"
    assert written.report.nothing_stored == "nothing_to_remember"
    assert written.report.warnings == []


def test_a_model_that_picks_its_tools_is_still_sent_a_tool_choice() -> None:
    # OpenAI-compatible servers such as llama-cpp-python drop tools sent without a tool_choice.
    model = ScriptedChatModel(replies=[tool_call("Memory", {"content": "User likes dogs"})])
    store = store_with()
    written = create_memory_store_manager(model, store=store).invoke({"messages": DOGS}, CONFIG)
    assert model.calls[0].request.tool_choice == "auto"
    assert model.calls[0].request.tool_names == ["Memory"]
    assert written.report.mode == "tools" and written.report.model_calls == 1
    assert contents(store) == ["User likes dogs"]


def dropped_tools_server(request: ScriptedRequest) -> str:
    """A local server whose chat template has no tool support: tools are dropped, the model
    chats; JSON-schema output works."""
    if request.structured_method == "json_schema":
        return answer(("Memory", {"content": "User has a dog named Fido"}))
    return "Fido is a lovely name! Dogs are wonderful companions."


def test_unknown_model_answering_in_prose_moves_to_json_schema_and_stays_there(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = ScriptedChatModel(profile={}, responder=dropped_tools_server)
    store = store_with()
    manager = create_memory_store_manager(model, store=store)
    with caplog.at_level(logging.WARNING, logger="reverie.extraction"):
        written = manager.invoke({"messages": DOGS}, CONFIG)
    assert [c.request.tool_choice for c in model.calls] == ["any", None]
    assert written.report.mode == "json_schema"
    assert written.report.modes == ["tools", "json_schema"]
    assert written.report.fallbacks[0].startswith("tools -> json_schema: a reply in prose")
    assert contents(store) == ["User has a dog named Fido"]
    assert "using 'json_schema' from now on" in caplog.text
    # The next run goes straight to the mode that worked.
    again = manager.invoke({"messages": [{"role": "user", "content": "I also own a cat."}]}, CONFIG)
    assert len(model.calls) == 3 and model.calls[2].request.structured_method == "json_schema"
    assert again.report.modes == ["json_schema"] and again.report.fallbacks == []


def test_json_schema_ids_are_an_enum_of_the_ids_shown() -> None:
    invented = ("Memory", {"content": "User's dog is Fido", "memory_id": "Fido"})
    fixed = ("Memory", {"content": "User's dog is Fido, a beagle", "memory_id": "1"})

    def respond(request: ScriptedRequest) -> str:
        return answer(fixed) if is_correction(request) else answer(invented)

    model = ScriptedChatModel(responder=respond)
    store = store_with("User has a dog named Fido", "User likes tea")
    manager = create_memory_store_manager(model, store=store, extraction_mode="json_schema")
    written = manager.invoke({"messages": DOGS}, CONFIG)
    first, retry = model.calls
    shown = shown_memories(first.request)
    schema = first.request.schema
    assert schema is not None and first.request.structured_method == "json_schema"
    item = schema["properties"]["calls"]["items"]
    assert item["properties"]["arguments"]["properties"]["memory_id"]["enum"] == sorted(shown)
    # The scripted model ignored the enum (a real decoder cannot); the id is still rejected,
    # and the correction request is plain text that any server accepts.
    assert [m.type for m in retry.request.messages] == ["system", "human", "ai", "human"]
    assert "Unknown memory_id 'Fido'" in retry.request.messages[-1].text
    assert written.report.rejected_calls == 1 and written.report.model_calls == 2
    assert "User's dog is Fido, a beagle" in contents(store)


def test_json_schema_without_memories_offers_no_ids_and_no_forget() -> None:
    model = ScriptedChatModel(replies=[answer()])
    manager = create_memory_store_manager(
        model, store=store_with(), extraction_mode="json_schema", enable_deletes=True
    )
    written = manager.invoke({"messages": DOGS}, CONFIG)
    schema = model.calls[0].request.schema
    assert schema is not None
    item = schema["properties"]["calls"]["items"]
    assert item["properties"]["name"] == {"const": "Memory"}
    assert "memory_id" not in item["properties"]["arguments"]["properties"]
    assert written.report.nothing_stored == "nothing_to_remember"


@pytest.mark.parametrize(
    "reply",
    [
        '<tool_call>\n{"name": "Memory", "arguments": {"content": "User likes dogs"}}\n</tool_call>',
        '```json\n{"calls": [{"name": "Memory", "arguments": {"content": "User likes dogs"}}]}\n```',
        'I will remember this: {"name": "Memory", "arguments": {"content": "User likes dogs"}}',
        '[{"name": "Memory", "parameters": {"content": "User likes dogs"}}]',
    ],
    ids=["tags", "fence", "json-in-prose", "bare-list"],
)
@pytest.mark.parametrize("mode", ["tools", "json", "text"])
def test_calls_written_as_text_are_read_in_every_mode(reply: str, mode: ExtractionMode) -> None:
    model = ScriptedChatModel(replies=[reply])
    store = store_with()
    written = create_memory_store_manager(model, store=store, extraction_mode=mode).invoke(
        {"messages": DOGS}, CONFIG
    )
    assert contents(store) == ["User likes dogs"]
    assert written.report.mode == mode and written.report.warnings == []


def test_json_mode_asks_for_a_json_object_and_describes_the_tools() -> None:
    model = ScriptedChatModel(replies=[answer(("Memory", {"content": "User likes dogs"}))])
    create_memory_store_manager(model, store=store_with(), extraction_mode="json").invoke(
        {"messages": DOGS}, CONFIG
    )
    request = model.calls[0].request
    assert request.structured_method == "json_mode" and request.tools == []
    assert "- Memory(content: string, memory_id?: string)" in request.text
    assert "Reply with JSON only" in request.text


def test_text_mode_sends_no_tools_and_no_response_format() -> None:
    model = ScriptedChatModel(replies=[answer()])
    written = create_memory_store_manager(model, store=store_with(), extraction_mode="text").invoke(
        {"messages": DOGS}, CONFIG
    )
    request = model.calls[0].request
    assert request.tools == [] and request.structured_method is None
    assert written.report.nothing_stored == "nothing_to_remember"


def test_invented_ids_in_text_mode_are_rejected_and_nothing_is_written() -> None:
    model = ScriptedChatModel(
        replies=[
            answer(
                ("Memory", {"content": "x", "memory_id": ");\n"}), ("forget", {"ids": ["Mirror"]})
            )
        ]
    )
    store = store_with("User likes tea")
    manager = create_memory_store_manager(
        model, store=store, extraction_mode="text", enable_deletes=True
    )
    with pytest.raises(ModelOutputError, match="all invalid.*Unknown memory_id"):
        manager.invoke({"messages": DOGS}, CONFIG)
    assert contents(store) == ["User likes tea"]
    assert len(model.calls) == 2


def test_the_memory_manager_takes_the_same_modes() -> None:
    model = ScriptedChatModel(replies=[answer(("Memory", {"content": "User likes dogs"}))])
    manager = create_memory_manager(model, extraction_mode="json_schema")
    result = manager.invoke({"messages": DOGS})
    assert [m.content.model_dump() for m in result] == [{"content": "User likes dogs"}]
    assert isinstance(result, ReportedList) and result.report.mode == "json_schema"
    assert model.calls[0].request.structured_method == "json_schema"


async def test_async_runs_choose_and_record_modes_the_same_way() -> None:
    model = ScriptedChatModel(profile={}, responder=dropped_tools_server)
    store = store_with()
    written = await create_memory_store_manager(model, store=store).ainvoke(
        {"messages": DOGS}, CONFIG
    )
    assert written.report.modes == ["tools", "json_schema"]
    assert contents(store) == ["User has a dog named Fido"]


def test_a_model_without_tools_starts_with_json_schema() -> None:
    model = ScriptedChatModel(
        profile={"tool_calling": False},
        replies=[answer(("Memory", {"content": "User likes dogs"}))],
    )
    written = create_memory_store_manager(model, store=store_with()).invoke(
        {"messages": DOGS}, CONFIG
    )
    assert written.report.modes == ["json_schema"] and written.report.written == 1


class NoStructuredOutput(ScriptedChatModel):
    def with_structured_output(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("no structured output here")


def test_a_mode_the_integration_lacks_is_a_configuration_error_when_forced() -> None:
    with pytest.raises(
        ConfigurationError, match="cannot be asked in extraction mode 'json_schema'"
    ):
        create_memory_store_manager(NoStructuredOutput(), extraction_mode="json_schema")


def test_a_mode_the_integration_lacks_is_skipped_in_auto_mode() -> None:
    model = NoStructuredOutput(
        profile={"tool_calling": False},
        replies=[answer(("Memory", {"content": "User likes dogs"}))],
    )
    written = create_memory_store_manager(model, store=store_with()).invoke(
        {"messages": DOGS}, CONFIG
    )
    assert written.report.modes == ["text"] and written.report.written == 1


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="extraction_mode must be one of"):
        create_memory_store_manager(ScriptedChatModel(), extraction_mode="grammar")  # type: ignore[arg-type]  # deliberately wrong type
    with pytest.raises(ConfigurationError, match="on_unusable_reply"):
        create_memory_manager(ScriptedChatModel(), on_unusable_reply="ignore")  # type: ignore[arg-type]  # deliberately wrong type


def test_a_schema_named_like_the_escape_tool_is_refused() -> None:
    from pydantic import BaseModel

    class no_changes(BaseModel):  # noqa: N801
        note: str

    with pytest.raises(ConfigurationError, match="'no_changes'"):
        create_memory_store_manager(
            ScriptedChatModel(profile=KNOWN_TOOL_CALLER), schemas=[no_changes]
        )


def test_tool_calls_stay_the_first_choice_when_the_model_makes_them() -> None:
    model = ScriptedChatModel(
        profile={},
        responder=lambda r: (
            tool_call("Memory", {"content": "User likes dogs"})
            if is_tools_request(r)
            else json.dumps({"calls": []})
        ),
    )
    written = create_memory_store_manager(model, store=store_with()).invoke(
        {"messages": DOGS}, CONFIG
    )
    assert written.report.modes == ["tools"] and written.report.fallbacks == []
    assert isinstance(model.calls[0].reply, AIMessage)
