"""A run that only deleted memories changed what is stored: its report, its stored record and its
log line never say that nothing changed. Every other reason for storing nothing stays as it was."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from reverie import create_memory_store_manager
from reverie.extraction.report import NothingStored
from reverie.testing import ScriptedChatModel, hashing_index, tool_call

NS = ("memories", "ann")
CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "ann", "thread_id": "t1"}}
SAID = {"messages": [{"role": "user", "content": "Forget where I live."}]}
STORED = "User lives in Lisbon"


def seeded() -> BaseStore:
    store = InMemoryStore(index=hashing_index())
    store.put(NS, "seed", {"kind": "Memory", "content": {"content": STORED}})
    return store


def test_a_run_that_only_deleted_does_not_say_nothing_changed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[tool_call("forget", {"ids": ["1"]})])
    manager = create_memory_store_manager(model, store=store, enable_deletes=True)
    with caplog.at_level(logging.INFO, logger="reverie.extraction"):
        written = manager.invoke(SAID, CONFIG)
    assert written == [] and store.search(NS) == []
    report = written.report
    assert report.deleted == 1 and report.changed == 1
    assert report.nothing_stored is None and report.why_nothing_stored is None
    (record,) = manager.runs(config=CONFIG)
    assert record.deleted == 1 and record.nothing_stored is None
    (line,) = [r.getMessage() for r in caplog.records if r.name == "reverie.extraction"]
    assert "-1" in line and "nothing_stored" not in line


REPLIES: dict[NothingStored, list[Any]] = {
    "nothing_to_remember": [""],
    # The model restates the stored memory: its operation leaves the store as it was.
    "no_change": [tool_call("Memory", {"content": STORED, "memory_id": "1"})],
}


@pytest.mark.parametrize("reason", sorted(REPLIES))
def test_runs_that_changed_nothing_still_say_why(reason: NothingStored) -> None:
    store = seeded()
    model = ScriptedChatModel(replies=REPLIES[reason])
    manager = create_memory_store_manager(model, store=store, enable_deletes=True)
    written = manager.invoke(SAID, CONFIG)
    assert written == [] and written.report.changed == 0
    assert written.report.nothing_stored == reason
    assert manager.invoke(SAID, CONFIG).report.nothing_stored == "no_new_messages"
    assert [i.value["content"]["content"] for i in store.search(NS)] == [STORED]
