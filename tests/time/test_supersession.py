"""Supersede, don't overwrite: an update closes the old version, a delete closes the memory, and
the past can be searched "as of" a date; the overwrite option keeps LangMem's behaviour.

Run on every backend (InMemoryStore through the adapter, the embedded store, PostgreSQL sync
and async), with a scripted model that moves Alice from Lisbon to Porto and then forgets it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.ledger.timeline import past_namespace, time_namespace
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import alias_of, new_conversation

NS = ("memories", "alice")
MARCH = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
APRIL = datetime(2024, 4, 15, tzinfo=timezone.utc)
JUNE = datetime(2024, 6, 1, 18, 30, tzinfo=timezone.utc)
JULY = datetime(2024, 7, 1, tzinfo=timezone.utc)
AUGUST = datetime(2024, 8, 20, tzinfo=timezone.utc)


def respond(request: ScriptedRequest) -> Any:
    said = new_conversation(request)
    if "moved to Porto" in said:
        return tool_call(
            "Memory", {"content": "Alice lives in Porto", "memory_id": alias_of(request, "Lisbon")}
        )
    if "left Portugal" in said:
        return tool_call("forget", {"ids": [alias_of(request, "Porto")]})
    return tool_call("Memory", {"content": "Alice lives in Lisbon"})


def at(moment: datetime) -> RunnableConfig:
    return {"configurable": {"reference_time": moment}}


def say(manager: MemoryStoreManager, text: str, when: datetime) -> list[dict[str, Any]]:
    return manager.invoke({"messages": [{"role": "user", "content": text}]}, at(when))


def manager_on(store: BaseStore, *, supersede: bool = True) -> MemoryStoreManager:
    return create_memory_store_manager(
        ScriptedChatModel(responder=respond),
        namespace=NS,
        store=store,
        enable_deletes=True,
        supersede=supersede,
    )


def texts(items: list[Any]) -> list[str]:
    return [i.value["content"]["content"] for i in items]


def test_an_update_supersedes_and_the_past_stays_searchable(any_store: BaseStore) -> None:
    manager = manager_on(any_store)
    (lisbon,) = say(manager, "I live in Lisbon", MARCH)
    (porto,) = say(manager, "I moved to Porto", JUNE)
    assert porto["key"] == lisbon["key"]  # the memory keeps its key; its version changes

    # The present is exactly what it was before time was kept.
    assert texts(manager.search(query="where does Alice live")) == ["Alice lives in Porto"]
    assert [i.value for i in any_store.search(NS)] == [porto["value"]]
    # The past, by date.
    assert texts(manager.search(query="where does Alice live", as_of=APRIL)) == [
        "Alice lives in Lisbon"
    ]
    assert texts(manager.search(query="where does Alice live", as_of=JULY)) == [
        "Alice lives in Porto"
    ]
    assert manager.search(query="where does Alice live", as_of=datetime(2024, 1, 1)) == []

    # The old version is closed when the new one began, and names it.
    (closed,) = any_store.search(past_namespace(NS))
    assert closed.value["content"] == {"content": "Alice lives in Lisbon"}
    assert closed.value["valid_from"] == MARCH.isoformat()
    assert closed.value["valid_to"] == JUNE.isoformat()
    assert closed.value["superseded_by"] == f"{lisbon['key']}@2"
    record = any_store.get(time_namespace(NS), lisbon["key"])
    assert record is not None
    assert (record.value["version"], record.value["valid_from"]) == (2, JUNE.isoformat())
    timeline = manager.timeline(lisbon["key"])
    assert [(v.version, v.valid_to) for v in timeline] == [(1, JUNE), (2, None)]


def test_a_delete_closes_the_memory_instead_of_erasing_it(any_store: BaseStore) -> None:
    manager = manager_on(any_store)
    (memory,) = say(manager, "I live in Lisbon", MARCH)
    say(manager, "I moved to Porto", JUNE)
    say(manager, "I left Portugal", AUGUST)
    assert manager.search(query="where does Alice live") == []
    assert any_store.get(NS, memory["key"]) is None
    assert any_store.get(time_namespace(NS), memory["key"]) is None
    assert texts(manager.search(query="Alice lives", as_of=JULY)) == ["Alice lives in Porto"]
    assert texts(manager.search(query="Alice lives", as_of=APRIL)) == ["Alice lives in Lisbon"]
    closings = sorted(
        (i.value["version"], i.value["closed_by"]) for i in any_store.search(past_namespace(NS))
    )
    assert closings == [(1, "update"), (2, "delete")]


def test_the_audit_trail_shows_each_step(any_store: BaseStore) -> None:
    manager = manager_on(any_store)
    say(manager, "I live in Lisbon", MARCH)
    say(manager, "I moved to Porto", JUNE)
    say(manager, "I left Portugal", AUGUST)
    trail = manager.history()
    assert [r.action for r in trail] == ["insert", "update", "delete"]
    assert trail[1].before is not None and trail[1].after is not None
    assert trail[1].before["content"]["content"] == "Alice lives in Lisbon"
    assert trail[1].after["content"]["content"] == "Alice lives in Porto"


def test_the_overwrite_option_reproduces_langmems_behaviour(any_store: BaseStore) -> None:
    manager = manager_on(any_store, supersede=False)
    (memory,) = say(manager, "I live in Lisbon", MARCH)
    say(manager, "I moved to Porto", JUNE)
    assert texts(manager.search(query="Alice lives")) == ["Alice lives in Porto"]
    # No bookkeeping beyond what Reverie kept before: nothing to search the past with.
    assert any_store.search(past_namespace(NS)) == []
    assert any_store.get(time_namespace(NS), memory["key"]) is None
    assert texts(manager.search(query="Alice lives", as_of=APRIL)) == []
    say(manager, "I left Portugal", AUGUST)
    assert any_store.search(NS) == [] and any_store.search(past_namespace(NS)) == []


def test_event_ranges_and_recency(any_store: BaseStore) -> None:
    manager = manager_on(any_store)
    manager.put("trip", "Alice visited Rome", config=at(MARCH))
    manager.put("course", "Alice took a cooking course", config=at(JUNE))
    assert texts(manager.search(event_after=APRIL)) == ["Alice took a cooking course"]
    assert texts(manager.search(event_before=APRIL)) == ["Alice visited Rome"]
    newest_first = manager.search(query="Alice", recency_weight=1.0)
    assert texts(newest_first) == ["Alice took a cooking course", "Alice visited Rome"]


def test_direct_puts_supersede_too(any_store: BaseStore) -> None:
    manager = manager_on(any_store)
    manager.put("home", "Alice lives in Lisbon", config=at(MARCH))
    manager.put("home", "Alice lives in Porto", config=at(JUNE))
    assert texts(manager.search(query="lives", as_of=APRIL)) == ["Alice lives in Lisbon"]
    manager.delete("home", config=at(AUGUST))
    assert texts(manager.search(query="lives", as_of=JULY)) == ["Alice lives in Porto"]


def test_a_memory_stored_before_time_was_kept_is_true_since_it_was_stored(
    any_store: BaseStore,
) -> None:
    any_store.put(NS, "old", {"kind": "Memory", "content": {"content": "Alice lives in Lisbon"}})
    item = any_store.get(NS, "old")
    assert item is not None
    manager = manager_on(any_store)
    (version,) = manager.timeline("old")
    assert version.valid_from == item.created_at and version.valid_to is None
    manager.put("old", "Alice lives in Porto", config=at(datetime.now(timezone.utc)))
    closed = manager.timeline("old")[0]
    assert closed.valid_from == item.created_at and closed.value == item.value


def test_a_bad_reference_time_is_refused_before_anything_happens(any_store: BaseStore) -> None:
    from reverie import ConfigurationError

    manager = manager_on(any_store)
    with pytest.raises(ConfigurationError, match="reference_time"):
        manager.invoke(
            {"messages": [{"role": "user", "content": "I live in Lisbon"}]},
            {"configurable": {"reference_time": "last tuesday"}},
        )
    assert any_store.search(NS) == []
