"""An agent whose model sends ``search_memory`` a filter Reverie refuses keeps running: the
error comes back as the tool's result, as ``manage_memory``'s errors do."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.store.memory import InMemoryStore

from reverie import create_manage_memory_tool, create_search_memory_tool
from reverie.testing import ScriptedChatModel, hashing_index, tool_call

NAMESPACE = ("memories", "{langgraph_user_id}")
CONFIG = {"configurable": {"langgraph_user_id": "alice"}}


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        node = {"a": node}
    return node


def agent(model: ScriptedChatModel, tools: list[Any]) -> Any:
    bound = model.bind_tools(tools)

    def think(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("think", think)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "think")
    graph.add_conditional_edges("think", tools_condition)
    graph.add_edge("tools", "think")
    return graph.compile(store=InMemoryStore(index=hashing_index()))


@pytest.mark.parametrize(
    "filter",
    [
        {"$or": [{"kind": "pet"}, {"kind": "food"}]},
        {"kind": {"$in": ["pet"]}},
        {"kind": {"$regex": "p.*"}},
        {"n": 10**400},
        {f"k{i}": i for i in range(5000)},
    ],
    ids=["$or", "$in", "$regex", "huge-int", "5000-keys"],
)
def test_a_bad_filter_from_the_model_is_answered_and_the_run_goes_on(
    filter: dict[str, Any],
) -> None:
    model = ScriptedChatModel(
        replies=[
            AIMessage(
                content="",
                tool_calls=[tool_call("search_memory", {"query": "pets", "filter": filter}, "c1")],
            ),
            AIMessage(content="", tool_calls=[tool_call("search_memory", {"query": "pets"}, "c2")]),
            AIMessage(content="You have no pets on record."),
        ]
    )
    tools = [
        create_search_memory_tool(NAMESPACE),
        create_manage_memory_tool(NAMESPACE),
    ]
    result = agent(model, tools).invoke({"messages": [("user", "Which pets do I have?")]}, CONFIG)
    replies = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [r.status for r in replies] == ["error", "success"]
    assert "filter" in replies[0].text and "Search again with a corrected call" in replies[0].text
    assert replies[1].text == "[]"
    assert result["messages"][-1].text == "You have no pets on record."
    assert len(model.calls) == 3  # the model saw the error and went on


def test_a_filter_nested_thousands_deep_is_answered_by_the_tool_node() -> None:
    # Only the tool step: a model's own next call would have to serialise the 2,000-level call
    # in its history (and a provider's JSON parser refuses that depth before any tool runs).
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([create_search_memory_tool(NAMESPACE)]))
    graph.add_edge(START, "tools")
    call = tool_call("search_memory", {"query": "pets", "filter": _nested(2000)}, "c1")
    app: Any = graph.compile(store=InMemoryStore())
    result = app.invoke({"messages": [AIMessage(content="", tool_calls=[call])]}, CONFIG)
    reply = result["messages"][-1]
    assert isinstance(reply, ToolMessage) and (reply.status, reply.tool_call_id) == ("error", "c1")
    assert reply.text.startswith("The filter is nested more than 6 levels deep")
    assert "Search again with a corrected call" in reply.text
