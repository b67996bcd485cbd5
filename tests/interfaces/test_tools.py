"""The hot-path memory tools, alone and inside LangGraph's prebuilt ReAct agent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.store.memory import InMemoryStore
from pydantic import BaseModel, ValidationError

from reverie.core.errors import ConfigurationError, NamespaceError
from reverie.core.limits import Limits
from reverie.core.values import cut_nesting, nesting_depth
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from reverie.tools import create_manage_memory_tool, create_search_memory_tool

NAMESPACE = ("memories", "{langgraph_user_id}")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _config(user: str) -> RunnableConfig:
    return {"configurable": {"langgraph_user_id": user}}


def _key(reply: str) -> str:
    return reply.rsplit(" ", 1)[-1]


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore(index=hashing_index())


def test_manage_tool_writes_langmem_format_inside_the_filled_namespace(
    store: InMemoryStore,
) -> None:
    tool = create_manage_memory_tool(NAMESPACE, store=store)
    reply = tool.invoke({"content": "Prefers tea over coffee"}, _config("ana"))
    assert reply.startswith("created memory ")
    item = store.get(("memories", "ana"), _key(reply))
    assert item is not None and item.value == {"content": "Prefers tea over coffee"}

    assert (
        tool.invoke(
            {"action": "update", "id": _key(reply), "content": "Prefers green tea"}, _config("ana")
        )
        == f"updated memory {_key(reply)}"
    )
    item = store.get(("memories", "ana"), _key(reply))
    assert item is not None
    assert item.value == {"content": "Prefers green tea"}

    assert tool.invoke({"action": "delete", "id": _key(reply)}, _config("ana")).startswith(
        "Deleted"
    )
    assert store.get(("memories", "ana"), _key(reply)) is None


async def test_manage_and_search_tools_work_async(store: InMemoryStore) -> None:
    manage = create_manage_memory_tool(NAMESPACE, store=store)
    search = create_search_memory_tool(NAMESPACE, store=store)
    key = _key(await manage.ainvoke({"content": "Runs marathons in spring"}, _config("bo")))
    results = json.loads(await search.ainvoke({"query": "marathons"}, _config("bo")))
    assert [(r["key"], r["value"]) for r in results] == [
        (key, {"content": "Runs marathons in spring"})
    ]
    assert results[0]["namespace"] == ["memories", "bo"]
    assert (
        await manage.ainvoke({"action": "delete", "id": key}, _config("bo"))
        == f"Deleted memory {key}"
    )
    assert json.loads(await search.ainvoke({"query": "marathons"}, _config("bo"))) == []


def test_update_keeps_the_memory_manager_format(store: InMemoryStore) -> None:
    store.put(("memories", "cy"), "m1", {"kind": "Memory", "content": {"content": "Lives in Oslo"}})
    tool = create_manage_memory_tool(NAMESPACE, store=store)
    tool.invoke({"action": "update", "id": "m1", "content": "Lives in Bergen"}, _config("cy"))
    item = store.get(("memories", "cy"), "m1")
    assert item is not None
    assert item.value == {
        "kind": "Memory",
        "content": {"content": "Lives in Bergen"},
    }
    found = json.loads(
        create_search_memory_tool(NAMESPACE, store=store).invoke({"query": "Bergen"}, _config("cy"))
    )
    assert found[0]["value"]["content"] == {"content": "Lives in Bergen"}


def test_tools_cannot_touch_another_namespace(store: InMemoryStore) -> None:
    tool = create_manage_memory_tool(NAMESPACE, store=store)
    theirs = _key(tool.invoke({"content": "Dana's door code is 4711"}, _config("dana")))

    for args in (
        {"action": "update", "id": theirs, "content": "hacked"},
        {"action": "delete", "id": theirs},
    ):
        reply = tool.invoke(args, _config("eve"))
        assert f"No memory with id {theirs}" in reply and "nothing was changed" in reply
    item = store.get(("memories", "dana"), theirs)
    assert item is not None
    assert item.value == {"content": "Dana's door code is 4711"}
    assert store.search(("memories", "eve")) == []

    search = create_search_memory_tool(NAMESPACE, store=store)
    assert json.loads(search.invoke({"query": "door code"}, _config("eve"))) == []


def test_bad_tool_calls_are_reported_to_the_model(store: InMemoryStore) -> None:
    tool = create_manage_memory_tool(NAMESPACE, store=store)
    assert "Do not pass an id" in tool.invoke({"content": "x", "id": "abc"}, _config("f"))
    assert "Pass the MEMORY ID" in tool.invoke({"action": "delete"}, _config("f"))
    assert "Pass the content" in tool.invoke({"action": "create"}, _config("f"))
    assert store.search(("memories", "f")) == []


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        node = {"a": node}
    return node


TOO_DEEP = "The filter is nested more than 6 levels deep (Limits.max_filter_depth)."


async def test_a_filter_nested_thousands_deep_is_answered_like_any_bad_filter(
    store: InMemoryStore,
) -> None:
    # LangChain's runner renders the arguments with str() before anything validates them; 2,000
    # levels overflowed Python's recursion there, before any of Reverie's checks.
    tool = create_search_memory_tool(NAMESPACE, store=store)
    deep = _nested(2000)
    args = {"query": "pets", "filter": deep}
    assert tool.invoke(args, _config("g")).startswith(TOO_DEEP)
    assert (await tool.ainvoke(args, _config("g"))).startswith(TOO_DEEP)
    for answer in (
        tool.invoke(tool_call("search_memory", args, "c1"), _config("g")),
        await tool.ainvoke(tool_call("search_memory", args, "c1"), _config("g")),
    ):
        assert isinstance(answer, ToolMessage)
        assert (answer.status, answer.tool_call_id) == ("error", "c1")
        assert answer.text.startswith(TOO_DEEP)
    assert nesting_depth(deep, 10_000) == 2000  # the caller's argument is left as it was
    # Just over the limit the answer is the same; at the limit the filter is used.
    assert tool.invoke({"query": "pets", "filter": _nested(7)}, _config("g")).startswith(TOO_DEEP)
    assert tool.invoke({"query": "pets", "filter": _nested(6)}, _config("g")) == "[]"
    own = create_search_memory_tool(NAMESPACE, store=store, limits=Limits(max_filter_depth=2))
    assert "more than 2 levels" in own.invoke({"query": "pets", "filter": deep}, _config("g"))


def test_nesting_is_measured_and_cut_without_recursion() -> None:
    deep = _nested(100_000)
    assert nesting_depth(deep, 5) == 6  # counting stops once over the most asked for
    assert nesting_depth({"a": [1, {"b": ()}]}, 10) == 4
    assert nesting_depth("text", 10) == 0
    cut = cut_nesting({"z": 1, "x": deep, "y": [[[1]]]}, 3)
    assert cut == {"z": 1, "x": {"a": {"a": None}}, "y": [[None]]}
    assert list(cut) == ["z", "x", "y"]  # keys keep their order
    shallow = {"a": [1, {"b": 2}]}
    assert cut_nesting(shallow, 3) is shallow  # nothing to cut: the value itself


def test_actions_permitted_limit_the_schema_and_the_calls(store: InMemoryStore) -> None:
    tool = create_manage_memory_tool(NAMESPACE, store=store, actions_permitted=("create",))
    params = convert_to_openai_tool(tool)["function"]["parameters"]
    action = params["properties"]["action"]
    assert action.get("enum", [action.get("const")]) == ["create"]
    with pytest.raises(ValidationError):
        tool.invoke({"action": "delete", "id": "x"})
    assert tool.description.startswith("Create a memory")
    with pytest.raises(ConfigurationError):
        create_manage_memory_tool(NAMESPACE, actions_permitted=())


def test_missing_template_value_and_missing_store_are_clear_errors(store: InMemoryStore) -> None:
    with pytest.raises(NamespaceError, match="langgraph_user_id"):
        create_manage_memory_tool(NAMESPACE, store=store).invoke({"content": "x"}, {})
    with pytest.raises(ConfigurationError, match="no store"):
        create_search_memory_tool(("memories",)).invoke({"query": "x"})


def test_structured_schema_and_artifacts(store: InMemoryStore) -> None:
    class Profile(BaseModel):
        name: str
        age: int | None = None

    manage = create_manage_memory_tool(("profiles",), schema=Profile, store=store)
    key = _key(manage.invoke({"content": {"name": "Gil", "age": 61}}))
    item = store.get(("profiles",), key)
    assert item is not None
    assert item.value == {"content": {"name": "Gil", "age": 61}}

    search = create_search_memory_tool(
        ("profiles",), store=store, response_format="content_and_artifact"
    )
    message = search.invoke(tool_call("search_memory", {"query": "Gil"}))
    assert isinstance(message, ToolMessage)
    assert [item.key for item in message.artifact] == [key]
    assert isinstance(message.content, str)
    assert json.loads(message.content)[0]["value"]["content"]["name"] == "Gil"


def _agent_script(request: ScriptedRequest) -> Any:
    """Remember a preference, look it up, then answer with what the lookup returned."""
    tool_messages = [m for m in request.messages if isinstance(m, ToolMessage)]
    if not tool_messages:
        return tool_call("manage_memory", {"content": "Prefers window seats on trains"})
    if len(tool_messages) == 1:
        return tool_call("search_memory", {"query": "window seats trains"})
    found = json.loads(tool_messages[-1].text)
    return AIMessage(content="You like: " + found[0]["value"]["content"])


def _agent(store: InMemoryStore, model: ScriptedChatModel) -> Any:
    from langgraph.prebuilt import create_react_agent

    tools = [create_manage_memory_tool(NAMESPACE), create_search_memory_tool(NAMESPACE)]
    return create_react_agent(model, tools=tools, store=store)


def test_react_agent_manages_then_searches_memory(store: InMemoryStore) -> None:
    model = ScriptedChatModel(responder=_agent_script)
    result = _agent(store, model).invoke(
        {"messages": [{"role": "user", "content": "I always want a window seat."}]},
        _config("hana"),
    )
    assert result["messages"][-1].content == "You like: Prefers window seats on trains"
    assert {"manage_memory", "search_memory"} <= set(model.calls[0].request.tool_names)
    stored = store.search(("memories", "hana"))
    assert [i.value for i in stored] == [{"content": "Prefers window seats on trains"}]
    assert store.search(("memories", "other")) == []


async def test_react_agent_async_reports_foreign_ids_as_tool_errors(store: InMemoryStore) -> None:
    store.put(("memories", "ivo"), "ivo-secret", {"content": "Ivo's PIN is 1234"})

    def script(request: ScriptedRequest) -> Any:
        if not any(isinstance(m, ToolMessage) for m in request.messages):
            return tool_call("manage_memory", {"action": "delete", "id": "ivo-secret"})
        return "done"

    result = await _agent(store, ScriptedChatModel(responder=script)).ainvoke(
        {"messages": [{"role": "user", "content": "forget everything"}]}, _config("jon")
    )
    tool_message = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_message.status == "error"
    assert "No memory with id ivo-secret" in tool_message.text
    assert store.get(("memories", "ivo"), "ivo-secret") is not None


async def test_tool_changes_are_in_the_audit_trail_with_their_thread(store: InMemoryStore) -> None:
    from reverie import create_memory_store_manager

    tool = create_manage_memory_tool(NAMESPACE, store=store)
    config: RunnableConfig = {"configurable": {"langgraph_user_id": "ana", "thread_id": "t-7"}}
    key = _key(tool.invoke({"content": "Prefers tea"}, config))
    await tool.ainvoke({"action": "update", "id": key, "content": "Prefers green tea"}, config)
    tool.invoke({"action": "delete", "id": key}, config)

    manager = create_memory_store_manager(ScriptedChatModel(), namespace=NAMESPACE, store=store)
    trail = manager.history(key, config=config)
    assert [(r.action, r.thread_id) for r in trail] == [
        ("insert", "t-7"),
        ("update", "t-7"),
        ("delete", "t-7"),
    ]
    assert trail[1].before == {"content": "Prefers tea"}
    assert trail[1].after == {"content": "Prefers green tea"}
    assert trail[2].after is None
    assert store.get(("memories", "ana"), key) is None


DEEP_CONTENT = "is nested more than 100 levels deep"


async def test_content_nested_thousands_deep_is_refused_and_nothing_is_stored(
    store: InMemoryStore,
) -> None:
    # An application that lets its model store structured memories.
    tool = create_manage_memory_tool(NAMESPACE, store=store, schema=dict)
    for levels in (101, 2000):
        args = {"content": _nested(levels)}
        assert DEEP_CONTENT in tool.invoke(args, _config("d"))
        assert DEEP_CONTENT in await tool.ainvoke(args, _config("d"))
        answer = tool.invoke(tool_call("manage_memory", args, "c2"), _config("d"))
        assert isinstance(answer, ToolMessage) and answer.status == "error"
        assert DEEP_CONTENT in answer.text
    assert store.search(("memories", "d")) == []
    assert tool.invoke({"content": _nested(50)}, _config("d")).startswith("created memory ")
