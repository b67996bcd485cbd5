"""An empty memory (no text once NUL characters and whitespace are left out) is refused at every
entry point: from a model it is an invalid call, sent back for correction while the stored
memory is kept; through ``manage_memory`` it is the tool's error and nothing changes."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from reverie import (
    ModelOutputError,
    create_manage_memory_tool,
    create_memory_manager,
    create_memory_store_manager,
)
from reverie.core.types import Memory
from reverie.testing import ScriptedChatModel, hashing_index, tool_call
from tests.helpers import contents

NS = ("memories", "alice")
TEMPLATE = ("memories", "{langgraph_user_id}")
ALICE: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
SAID = {"messages": [{"role": "user", "content": "I am allergic to penicillin."}]}
STORED = "User is allergic to penicillin"
EMPTY = {"empty": "", "spaces": "   ", "nul": "\x00", "nuls": "\x00\x00", "mixed": " \x00\n\t"}


def seeded(store: BaseStore | None = None) -> BaseStore:
    store = store if store is not None else InMemoryStore(index=hashing_index())
    store.put(NS, "seed", {"kind": "Memory", "content": {"content": STORED}})
    return store


def correction_text(model: ScriptedChatModel) -> str:
    """What the correction request sent back to the model about its rejected calls."""
    return "\n".join(str(m.content) for m in model.calls[1].request.messages)


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_an_empty_update_from_the_model_is_corrected_and_never_wipes_the_memory(
    any_store: BaseStore, name: str
) -> None:
    store = seeded(any_store)
    model = ScriptedChatModel(
        replies=[
            tool_call("Memory", {"content": EMPTY[name], "memory_id": "1"}),
            tool_call("Memory", {"content": "User is allergic to penicillin and aspirin"}),
        ]
    )
    manager = create_memory_store_manager(model, namespace=TEMPLATE, store=store)
    written = manager.invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [
        "User is allergic to penicillin",
        "User is allergic to penicillin and aspirin",
    ]
    assert [w["value"]["content"]["content"] for w in written] == [
        "User is allergic to penicillin and aspirin"
    ]
    assert written.report.rejected_calls == 1 and written.report.updated == 0
    text = correction_text(model)
    assert "The memory is empty" in text and "The stored memory was kept" in text


def test_a_model_that_insists_on_empty_content_gets_an_error_and_nothing_changes() -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[tool_call("Memory", {"content": "\x00", "memory_id": "1"})])
    manager = create_memory_store_manager(model, namespace=TEMPLATE, store=store)
    with pytest.raises(ModelOutputError, match="The memory is empty") as caught:
        manager.invoke(SAID, ALICE)
    assert "nothing was written" in str(caught.value)
    assert contents(store.search(NS)) == [STORED]


def test_the_correction_says_how_to_delete_when_deletes_are_enabled() -> None:
    model = ScriptedChatModel(
        replies=[tool_call("Memory", {"content": "", "memory_id": "1"}), AIMessage(content="")]
    )
    store = seeded()
    manager = create_memory_store_manager(
        model, namespace=TEMPLATE, store=store, enable_deletes=True
    )
    with pytest.raises(ModelOutputError):
        manager.invoke(SAID, ALICE)
    assert "or call forget to delete it" in correction_text(model)
    assert contents(store.search(NS)) == [STORED]


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_an_empty_new_memory_is_rejected_and_the_others_kept(name: str) -> None:
    store = seeded()
    model = ScriptedChatModel(
        replies=[
            [
                tool_call("Memory", {"content": EMPTY[name]}),
                tool_call("Memory", {"content": "User has a dog named Fido"}),
            ],
            AIMessage(content=""),  # the model has nothing to correct
        ]
    )
    manager = create_memory_store_manager(model, namespace=TEMPLATE, store=store)
    written = manager.invoke(SAID, ALICE)
    assert contents(store.search(NS)) == ["User has a dog named Fido", STORED]
    assert len(written) == 1 and written.report.rejected_calls == 1
    assert any("The memory is empty" in w for w in written.report.warnings)


def test_the_plain_memory_manager_keeps_a_memory_the_model_tried_to_empty() -> None:
    model = ScriptedChatModel(
        replies=[tool_call("Memory", {"content": "\x00\x00", "memory_id": "1"})]
    )
    manager = create_memory_manager(model)
    existing = [("seed", Memory(content=STORED))]
    with pytest.raises(ModelOutputError, match="The memory is empty"):
        manager.invoke({**SAID, "existing": existing})


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_manage_memory_refuses_an_empty_update_and_changes_nothing(name: str) -> None:
    store = seeded()
    tool = create_manage_memory_tool(TEMPLATE, store=store)
    call = {"action": "update", "id": "seed", "content": EMPTY[name]}
    reply = tool.invoke(
        {"name": "manage_memory", "args": call, "id": "c1", "type": "tool_call"}, ALICE
    )
    assert isinstance(reply, ToolMessage) and reply.status == "error"
    assert "The memory is empty" in str(reply.content)
    assert "Nothing was changed" in str(reply.content) and "action 'delete'" in str(reply.content)
    assert contents(store.search(NS)) == [STORED]


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_manage_memory_refuses_to_create_an_empty_memory(name: str) -> None:
    store = seeded()
    tool = create_manage_memory_tool(TEMPLATE, store=store, actions_permitted=["create", "update"])
    reply = tool.invoke({"content": EMPTY[name]}, ALICE)
    assert reply.startswith("The memory is empty") and "action 'delete'" not in reply
    assert contents(store.search(NS)) == [STORED]
