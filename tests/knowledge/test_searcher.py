"""create_memory_searcher: model-written queries, exact-namespace search, merged ranking."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.func import entrypoint
from langgraph.store.base import BaseStore, SearchItem
from langgraph.store.memory import InMemoryStore

from reverie import ConfigurationError, NamespaceError, create_memory_searcher
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call

ALICE: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
CONVERSATION = {
    "messages": [{"role": "user", "content": "What should I cook for my sister tonight?"}]
}


def fill(store: BaseStore) -> None:
    ns = ("memories", "alice")
    store.put(ns, "food", {"content": "Alice likes spicy food and cooks Thai curry"})
    store.put(ns, "sister", {"content": "Alice's sister Maya is vegetarian"})
    store.put(ns, "job", {"content": "Alice works as a nurse"})
    store.put(("memories", "alice", "team"), "deep", {"content": "sister vegetarian food curry"})
    store.put(("memories", "bob"), "other", {"content": "Bob's sister is vegetarian"})


def two_searches(request: ScriptedRequest) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            tool_call("search_memory", {"query": "sister vegetarian"}),
            tool_call("search_memory", {"query": "food cooks curry", "limit": 2}),
        ],
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_searches_each_query_and_ranks_the_union(any_store: BaseStore, mode: str) -> None:
    fill(any_store)
    model = ScriptedChatModel(responder=two_searches)
    searcher = create_memory_searcher(model, store=any_store)
    if mode == "sync":
        results = searcher.invoke(CONVERSATION, ALICE)
    else:
        results = asyncio.run(searcher.ainvoke(CONVERSATION, ALICE))
    keys = [item.key for item in results]
    assert set(keys) <= {"food", "sister", "job"}  # exactly alice's namespace
    assert {"food", "sister"} <= set(keys)
    assert len(keys) == len(set(keys))
    scores: list[float] = []
    for item in results:
        assert item.score is not None
        scores.append(item.score)
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(item, SearchItem) for item in results)
    (call,) = model.calls
    assert call.request.tool_names == ["search_memory"]
    assert "cook for my sister" in call.request.text
    assert call.request.messages[0].type == "system"


def test_each_memory_keeps_its_best_score() -> None:
    store = InMemoryStore(index=hashing_index())
    fill(store)
    model = ScriptedChatModel(
        responder=lambda r: [
            tool_call("search_memory", {"query": "sister"}),
            tool_call("search_memory", {"query": "Alice's sister Maya is vegetarian"}),
        ]
    )
    results = create_memory_searcher(model, store=store).invoke(CONVERSATION, ALICE)
    best = store.search(("memories", "alice"), query="Alice's sister Maya is vegetarian", limit=1)[
        0
    ]
    assert results[0].key == "sister" and results[0].score == pytest.approx(best.score)


def test_without_a_usable_query_the_latest_human_message_is_searched() -> None:
    store = InMemoryStore(index=hashing_index())
    fill(store)
    model = ScriptedChatModel(
        replies=[
            AIMessage(
                content="", tool_calls=[tool_call("search_memory", {"query": "x", "limit": 0})]
            )
        ]
    )
    messages = {
        "messages": [
            {"role": "user", "content": "Where does Alice work as a nurse?"},
            {"role": "assistant", "content": "Let me check."},
        ]
    }
    results = create_memory_searcher(model, store=store).invoke(messages, ALICE)
    assert results[0].key == "job"


def test_inside_a_langgraph_run_the_runs_store_and_config_are_used() -> None:
    store = InMemoryStore(index=hashing_index())
    store.put(("memories", "abcd1234"), key="preferences", value={"content": "I like sushi"})
    searcher = create_memory_searcher(
        ScriptedChatModel(responder=lambda r: tool_call("search_memory", {"query": "food I like"})),
        namespace=("memories", "{langgraph_user_id}"),
    )

    @entrypoint(store=store)
    async def search_memories(messages: list[dict[str, Any]]) -> str:
        results = await searcher.ainvoke({"messages": messages})
        return str(results[0].value["content"])

    found = asyncio.run(
        search_memories.ainvoke(
            [{"role": "user", "content": "What do I like to eat?"}],
            config={"configurable": {"langgraph_user_id": "abcd1234"}},
        )
    )
    assert found == "I like sushi"


def test_empty_conversation_searches_nothing() -> None:
    model = ScriptedChatModel()
    searcher = create_memory_searcher(model, store=InMemoryStore())
    assert searcher.invoke({"messages": []}, ALICE) == []
    assert model.calls == []


def test_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="prompt must be"):
        create_memory_searcher(ScriptedChatModel(), "")
    with pytest.raises(ConfigurationError, match="BaseStore"):
        create_memory_searcher(ScriptedChatModel(), store=tmp_path)  # type: ignore[arg-type]  # deliberately wrong type
    searcher = create_memory_searcher(
        ScriptedChatModel(responder=lambda r: tool_call("search_memory", {"query": "q"}))
    )
    with pytest.raises(ConfigurationError, match="has no store"):
        searcher.invoke(CONVERSATION, ALICE)
    with pytest.raises(NamespaceError, match="langgraph_user_id"):
        create_memory_searcher(ScriptedChatModel(), store=InMemoryStore()).invoke(CONVERSATION)
