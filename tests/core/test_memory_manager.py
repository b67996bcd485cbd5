from __future__ import annotations

import pytest
from pydantic import BaseModel

from reverie import ExtractedMemory, InputError, Memory, RemoveDoc, create_memory_manager
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import alias_of

CONVERSATION = [
    {"role": "user", "content": "I prefer dark mode in all my apps"},
    {"role": "assistant", "content": "I'll remember that preference"},
]


def test_extracts_memories_as_pydantic_contents() -> None:
    model = ScriptedChatModel(
        replies=[[tool_call("Memory", {"content": "User prefers dark mode"})]]
    )
    manager = create_memory_manager(model)
    (memory,) = manager.invoke({"messages": CONVERSATION})
    assert isinstance(memory, ExtractedMemory)
    assert memory.content == Memory(content="User prefers dark mode")


async def test_updates_existing_by_id_in_every_accepted_shape() -> None:
    def respond(request: ScriptedRequest) -> Reply:
        return tool_call(
            "Memory",
            {"content": "User now prefers light mode", "memory_id": alias_of(request, "dark")},
        )

    manager = create_memory_manager(ScriptedChatModel(responder=respond))
    for existing in (
        [("pref-1", Memory(content="User prefers dark mode"))],
        [("pref-1", "Memory", {"content": "User prefers dark mode"})],
        [ExtractedMemory("pref-1", Memory(content="User prefers dark mode"))],
    ):
        (updated,) = await manager.ainvoke({"messages": CONVERSATION, "existing": existing})
        assert updated == ExtractedMemory("pref-1", Memory(content="User now prefers light mode"))


def test_plain_string_existing_memories_get_ids() -> None:
    seen: list[str] = []

    def record(request: ScriptedRequest) -> Reply:
        seen.append(request.text)
        return None

    model = ScriptedChatModel(responder=record)
    assert (
        create_memory_manager(model).invoke(
            {"messages": CONVERSATION, "existing": ["User likes tea"]}
        )
        == []
    )
    assert "[1] User likes tea" in seen[0]


def test_deletes_only_when_enabled() -> None:
    def respond(request: ScriptedRequest) -> Reply:
        return tool_call("forget", {"ids": [alias_of(request, "dark")]})

    existing = [("pref-1", Memory(content="User prefers dark mode"))]
    manager = create_memory_manager(ScriptedChatModel(responder=respond), enable_deletes=True)
    (removed,) = manager.invoke({"messages": CONVERSATION, "existing": existing})
    assert removed == ExtractedMemory("pref-1", RemoveDoc(json_doc_id="pref-1"))


def test_updates_can_be_disabled() -> None:
    manager = create_memory_manager(ScriptedChatModel(), enable_updates=False)
    assert all(
        "memory_id" not in t["function"]["parameters"]["properties"] for t in manager.toolkit.tools
    )


class Preference(BaseModel):
    """Store the user's preference."""

    category: str
    preference: str


def test_custom_schema_and_batch() -> None:
    model = ScriptedChatModel(
        replies=[[tool_call("Preference", {"category": "ui", "preference": "dark mode"})]]
    )
    manager = create_memory_manager(model, schemas=[Preference])
    results = manager.batch([{"messages": CONVERSATION}, {"messages": CONVERSATION}])
    assert [r[0].content for r in results] == [
        Preference(category="ui", preference="dark mode")
    ] * 2


def test_bad_existing_is_a_typed_error() -> None:
    manager = create_memory_manager(ScriptedChatModel())
    with pytest.raises(InputError, match="existing"):
        manager.invoke({"messages": CONVERSATION, "existing": "User likes tea"})
