"""What Reverie relies on from LangGraph and LangChain, checked against the installed releases.

pyproject.toml pins the supported major versions; a release within them that changes one of
these behaviours fails here, by name, instead of breaking users' memory silently.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import convert_to_messages
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config, get_store
from langgraph.func import entrypoint
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    PutOp,
    SearchItem,
    SearchOp,
    get_text_at_path,
    tokenize_path,
)
from langgraph.store.memory import InMemoryStore

from reverie.testing import HashingEmbeddings, ScriptedChatModel, tool_call


def test_store_operations_have_the_fields_reverie_builds() -> None:
    assert GetOp._fields[:3] == ("namespace", "key", "refresh_ttl")
    assert set(SearchOp._fields) >= {"namespace_prefix", "filter", "limit", "offset", "query"}
    assert set(PutOp._fields) >= {"namespace", "key", "value", "index", "ttl"}
    assert set(ListNamespacesOp._fields) >= {"match_conditions", "max_depth", "limit", "offset"}
    # ISO strings for the timestamps, which Item parses although its annotation says datetime.
    item = SearchItem(("a",), "k", {"v": 1}, "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00", 0.5)  # type: ignore[arg-type]  # fmt: skip
    assert isinstance(item, Item) and item.score == 0.5
    assert set(item.dict()) >= {"namespace", "key", "value", "created_at", "updated_at", "score"}


def test_index_paths_select_the_texts_reverie_embeds() -> None:
    value = {"content": {"content": "likes tea"}, "tags": ["a", "b"]}
    assert get_text_at_path(value, tokenize_path("content.content")) == ["likes tea"]
    assert get_text_at_path(value, tokenize_path("tags[*]")) == ["a", "b"]


def test_an_entrypoint_gives_its_body_the_store_and_config_reverie_runs_reflections_with() -> None:
    store = InMemoryStore()
    payload = object()

    def body(given: Any, *, config: RunnableConfig) -> tuple[bool, Any, Any]:
        return (
            given is payload and get_store() is store,
            config["configurable"].get("thread_id"),
            get_config()["configurable"].get("langgraph_user_id"),
        )

    config: RunnableConfig = {"configurable": {"thread_id": "t", "langgraph_user_id": "u"}}
    assert entrypoint(store=store)(body).invoke(payload, config) == (True, "t", "u")

    async def abody(given: Any) -> bool:
        return get_store() is store

    assert asyncio.run(entrypoint(store=store)(abody).ainvoke(1)) is True


def test_an_entrypoint_lets_exceptions_through_unchanged() -> None:
    def body(_: Any) -> None:
        raise KeyError("from the reflection")

    with pytest.raises(KeyError, match="from the reflection"):
        entrypoint(store=InMemoryStore())(body).invoke(1)


def test_get_store_outside_a_run_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        get_store()
    with pytest.raises(RuntimeError):
        get_config()


def test_in_memory_store_still_fails_a_batch_that_embeds_one_text_twice() -> None:
    """Why the adapter writes such memories in two batches; if this starts passing, the split
    in ``reverie.ledger.adapter`` can go."""
    store = InMemoryStore(index={"dims": 8, "embed": HashingEmbeddings(8)})
    same = {"content": "x"}
    with pytest.raises(ValueError):
        store.batch([PutOp(("a",), "1", same), PutOp(("a",), "2", same)])


def test_messages_and_tool_calls_keep_their_shapes() -> None:
    messages = convert_to_messages(
        [
            {"role": "user", "content": "hi"},
            ("assistant", "hello"),
            {"role": "tool", "content": "ok", "tool_call_id": "1"},
        ]  # fmt: skip
    )
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, ToolMessage]
    model = ScriptedChatModel(replies=[[tool_call("Memory", {"content": "x"}, id="c1")]])
    reply = model.bind_tools([{"type": "function", "function": {"name": "Memory", "parameters": {}}}]).invoke("hi")  # fmt: skip
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == [{"name": "Memory", "args": {"content": "x"}, "id": "c1", "type": "tool_call"}]  # fmt: skip
