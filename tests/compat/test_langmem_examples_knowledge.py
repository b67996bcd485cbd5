"""LangMem's examples for the memory searcher, the thread extractor and the manager's store
operations, with only the import changed (langmem -> reverie) and the model scripted."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.func import entrypoint
from langgraph.store.memory import InMemoryStore

from reverie import create_memory_searcher, create_memory_store_manager, create_thread_extractor
from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call


def test_memory_searcher_docstring_example() -> None:
    store = InMemoryStore(index={"dims": 64, "embed": HashingEmbeddings(64)})
    user_id = "abcd1234"
    store.put(("memories", user_id), key="preferences", value={"content": "I like sushi"})
    searcher = create_memory_searcher(
        ScriptedChatModel(
            responder=lambda r: tool_call("search_memory", {"query": "What I like to eat"})
        ),
        namespace=("memories", "{langgraph_user_id}"),
    )
    printed: list[str] = []

    @entrypoint(store=store)
    async def search_memories(messages: list[Any]) -> None:
        results = await searcher.ainvoke({"messages": messages})
        printed.append(results[0].value["content"])

    asyncio.run(
        search_memories.ainvoke(
            [{"role": "user", "content": "What do I like to eat?"}],
            config={"configurable": {"langgraph_user_id": user_id}},
        )
    )
    assert printed == ["I like sushi"]


def test_thread_extractor_docstring_example() -> None:
    def respond(request: ScriptedRequest) -> Any:
        return tool_call(
            "SummarizeThread",
            {
                "title": "Password Reset Assistance",
                "summary": "User reported issues with password reset process...",
            },
        )

    summarizer = create_thread_extractor(ScriptedChatModel(responder=respond))
    messages = [
        {"role": "user", "content": "Hi, I'm having trouble with my account"},
        {"role": "assistant", "content": "I'd be happy to help. What seems to be the issue?"},
        {"role": "user", "content": "I can't reset my password"},
    ]
    summary = asyncio.run(summarizer.ainvoke({"messages": messages}))
    assert summary.title == "Password Reset Assistance"
    assert summary.summary.startswith("User reported issues with password reset")


def test_manager_store_operation_docstring_examples() -> None:
    # The docs' setup: create_memory_store_manager(model, namespace=("chat",), store=InMemoryStore())
    manager = create_memory_store_manager(
        ScriptedChatModel(), namespace=("chat",), store=InMemoryStore()
    )
    manager.put("report", {"memory": "Will likes ai"})
    item = manager.get("report")
    assert item is not None and item.value == {"memory": "Will likes ai"}
    manager.put("report", {"memory": "Will likes ai"}, index=False)
    manager.put("report", {"memory": "Will likes ai"}, index=["memory"])
    results = manager.search(query="app preferences", filter={"memory": "Will likes ai"})
    assert [r.key for r in results] == ["report"]
    results = manager.search(
        query="machine learning applications in healthcare",
        filter={"type": "research_paper"},
        limit=5,
    )
    assert results == []

    async def async_examples() -> None:
        await manager.aput(
            "report",
            {"memory": "Will likes ai", "context": [{"content": "..."}, {"content": "..."}]},
            index=["memory", "context[*].content"],
        )
        item = await manager.aget("report")
        assert item is not None and item.value["context"][0] == {"content": "..."}
        assert len(await manager.asearch(filter={"memory": "Will likes ai"})) == 1
        await manager.adelete("report")

    asyncio.run(async_examples())
    manager.delete("report")
    assert manager.get("report") is None
