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
