"""The audit trail: for each memory, what changed, when, and from which thread."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime, timedelta, timezone

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore, PutOp

from reverie import HistoryRecord, MemoryStoreManager, create_memory_store_manager
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import alias_of, new_conversation

NS = ("memories", "alice")


def _config(thread: str | None = None, user: str = "alice") -> RunnableConfig:
    configurable = {"langgraph_user_id": user}
    if thread:
        configurable["thread_id"] = thread
    return {"configurable": configurable}


def _city_keeper(request: ScriptedRequest) -> Reply:
    """Keeps one memory about where the user lives; forgets it when told to."""
    text = new_conversation(request)
    if "forget where I live" in text:
        return tool_call("forget", {"ids": [alias_of(request, "lives in")]})
    if "moved to" in text:
        city = text.split("moved to ")[1].split(".")[0]
        return tool_call(
            "Memory",
            {"content": f"User lives in {city}", "memory_id": alias_of(request, "lives in")},
        )
    if "I live in" in text:
        city = text.split("I live in ")[1].split(".")[0]
        return [tool_call("Memory", {"content": f"User lives in {city}"})]
    if "cello" in text:
        return tool_call("Memory", {"content": "User plays the cello"})
    return AIMessage(content="")


def _say(manager: MemoryStoreManager, text: str, thread: str) -> None:
    manager.invoke({"messages": [{"role": "user", "content": text}]}, _config(thread))


def _memory(text: str) -> dict:
    return {"kind": "Memory", "content": {"content": text}}


def test_insert_update_delete_of_one_memory_from_three_threads(any_store: BaseStore) -> None:
    model = ScriptedChatModel(responder=_city_keeper)
    manager = create_memory_store_manager(model, store=any_store, enable_deletes=True)
    _say(manager, "I live in Lyon.", "morning")
    (key,) = [i.key for i in any_store.search(NS)]
    _say(manager, "I play the cello.", "noon")
    _say(manager, "I moved to Paris.", "evening")
    _say(manager, "Please forget where I live.", "night")
    assert [i.value for i in any_store.search(NS)] == [_memory("User plays the cello")]

    trail = manager.history(key, config=_config())
    assert [(r.action, r.thread_id) for r in trail] == [
        ("insert", "morning"),
        ("update", "evening"),
        ("delete", "night"),
    ]
    assert all(isinstance(r, HistoryRecord) and r.memory_key == key for r in trail)
    insert, update, delete = trail
    assert insert.before is None and insert.after == _memory("User lives in Lyon")
    assert update.before == insert.after and update.after == _memory("User lives in Paris")
    assert delete.before == update.after and delete.after is None
    assert all(
        r.at.tzinfo is not None and r.at.utcoffset() == timezone.utc.utcoffset(None) for r in trail
    )
    assert insert.at <= update.at <= delete.at

    everything = manager.history(config=_config())
    assert [(r.action, r.thread_id) for r in everything] == [
        ("insert", "morning"),
        ("insert", "noon"),
        ("update", "evening"),
        ("delete", "night"),
    ]
    assert [r.action for r in manager.history(config=_config(), limit=2)] == ["update", "delete"]
    assert asyncio.run(manager.ahistory(key, config=_config())) == trail
    # Another user's trail is theirs alone.
    assert manager.history(config=_config(user="bob")) == []


def test_direct_puts_and_deletes_are_recorded_with_their_thread(any_store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=any_store)
    manager.put("k", "User likes tea", config=_config("app-1"))
    manager.put("k", "User likes tea", config=_config("app-1"))  # unchanged: not a change
    manager.put("k", "User likes green tea", config=_config("app-2"))
    manager.delete("k", config=_config("app-3"))
    manager.delete("k", config=_config("app-4"))  # already gone: nothing happened
    asyncio.run(manager.aput("j", "User likes jazz", config=_config("app-5")))
    trail = manager.history(config=_config())
    assert [(r.memory_key, r.action, r.thread_id) for r in trail] == [
        ("k", "insert", "app-1"),
        ("k", "update", "app-2"),
        ("k", "delete", "app-3"),
        ("j", "insert", "app-5"),
    ]
    assert trail[1].before == _memory("User likes tea")
    assert trail[1].after == _memory("User likes green tea")


def test_history_can_be_turned_off(any_store: BaseStore) -> None:
    model = ScriptedChatModel(responder=_city_keeper)
    manager = create_memory_store_manager(model, store=any_store, history=False)
    _say(manager, "I live in Lyon.", "t")
    manager.put("k", "User likes tea", config=_config())
    assert manager.history(config=_config()) == []
    assert ("__reverie__", "history", *NS) not in any_store.list_namespaces(limit=100)


def test_a_long_trail_is_read_whole(any_store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=any_store)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    records = [  # more than one page of the store's search, written in shuffled order
        HistoryRecord(
            memory_key="counter",
            action="update",
            before=_memory(f"count is {n - 1}"),
            after=_memory(f"count is {n}"),
            thread_id=f"t{n}",
            at=start + timedelta(seconds=n),
        )
        for n in random.Random(3).sample(range(520), 520)
    ]
    any_store.batch(
        [
            PutOp(
                ("__reverie__", "history", *NS),
                str(uuid.uuid4()),
                r.model_dump(mode="json"),
                index=False,
            )
            for r in records
        ]
    )
    manager.put("other", "User likes tea", config=_config("t-other"))
    trail = manager.history("counter", limit=None, config=_config())
    assert [r.thread_id for r in trail] == [f"t{n}" for n in range(520)]
    latest = manager.history("counter", limit=2, config=_config())
    assert [r.after["content"]["content"] if r.after is not None else None for r in latest] == [
        "count is 518",
        "count is 519",
    ]
    assert len(manager.history(limit=None, config=_config())) == 521
