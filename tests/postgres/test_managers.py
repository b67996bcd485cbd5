"""The memory managers end to end on the async PostgreSQL store (the sync store runs the whole
manager suite through the ``postgres`` store factory)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from reverie import create_memory_store_manager
from reverie.stores.postgres import open_async_postgres_store
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import alias_of, new_conversation
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
NS = ("memories", "alice")


def conversation(text: str) -> dict:
    return {
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "Ok."}]
    }


def remember(request: ScriptedRequest) -> Reply:
    calls = [
        tool_call("Memory", {"content": "User: " + line[6:].rstrip(".")})
        for line in new_conversation(request).splitlines()
        if line.startswith("user: I")
    ]
    return calls or AIMessage(content="")


async def test_store_manager_on_async_store() -> None:
    with fresh_database() as url:
        async with await open_async_postgres_store(url, index=hashing_index()) as store:
            manager = create_memory_store_manager(
                ScriptedChatModel(responder=remember), store=store
            )
            written = await manager.ainvoke(conversation("I live in Lyon."), CONFIG)
            assert [w["namespace"] for w in written] == [NS]
            await manager.ainvoke(conversation("I play the cello."), CONFIG)

            hits = await store.asearch(NS, query="cello", limit=1)
            assert hits[0].value["content"]["content"] == "User: I play the cello"

            def move(request: ScriptedRequest) -> Reply:
                return tool_call(
                    "Memory",
                    {"content": "User lives in Paris", "memory_id": alias_of(request, "Lyon")},
                )

            mover = create_memory_store_manager(ScriptedChatModel(responder=move), store=store)
            (updated,) = await mover.ainvoke(conversation("I moved to Paris."), CONFIG)
            assert updated["key"] == written[0]["key"]
            contents = sorted(i.value["content"]["content"] for i in await store.asearch(NS))
            assert contents == ["User lives in Paris", "User: I play the cello"]


async def test_async_store_survives_reopen() -> None:
    """Memories written through one pool are there for the next process."""
    with fresh_database() as url:
        async with await open_async_postgres_store(url, index=hashing_index()) as store:
            await store.aput(NS, "k", {"kind": "Memory", "content": {"content": "likes tea"}})
        async with await open_async_postgres_store(url, index=hashing_index()) as again:
            item = await again.aget(NS, "k")
            assert item is not None and item.value["content"]["content"] == "likes tea"
            assert (await again.asearch(NS, query="tea"))[0].key == "k"
