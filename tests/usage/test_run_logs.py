"""The log lines of a run: one INFO line saying what it did and cost, WARNINGs where the user
should act."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from reverie import ConflictError, create_memory_store_manager
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from tests.helpers import alias_of

LOGGER = "reverie.extraction"
NS = ("memories", "ann")
CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "ann", "thread_id": "t1"}}


def said(*lines: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": line} for line in lines]}


def store() -> BaseStore:
    return InMemoryStore(index=hashing_index())


def test_one_info_line_per_run(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedChatModel(responder=lambda r: tool_call("Memory", {"content": "Likes tea"}))
    manager = create_memory_store_manager(model, store=store())
    with caplog.at_level(logging.INFO, logger=LOGGER):
        report = manager.invoke(said("I like tea."), CONFIG).report
        manager.invoke(said("I like tea."), CONFIG)  # nothing new since the watermark
    lines = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelname for r in lines] == ["INFO", "INFO"]
    first = lines[0].getMessage()
    assert first.startswith("memory run namespace=memories/ann thread=t1 ops=+1 ~0 >0 -0 calls=1")
    assert f"tokens={report.input_tokens}/{report.output_tokens} ms=" in first
    assert lines[0].reverie_run["run_id"] == report.run_id  # type: ignore[attr-defined]
    assert lines[1].getMessage().endswith("nothing_stored=no_new_messages")


def test_estimated_tokens_are_marked(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedChatModel(responder=lambda r: "", reports_usage=False)
    manager = create_memory_store_manager(model, store=store())
    with caplog.at_level(logging.INFO, logger=LOGGER):
        manager.invoke(said("Hello."), CONFIG)
    (line,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "~ ms=" in line and line.endswith("nothing_stored=nothing_to_remember")


def test_a_message_cut_to_the_budget_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedChatModel(responder=lambda r: "")
    manager = create_memory_store_manager(model, store=store(), token_budget=900)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        report = manager.invoke(said("word " * 5000), CONFIG).report
    assert report.truncated_messages == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "1 message(s) longer than the token budget were cut" in warning
    assert "raise token_budget" in warning and "namespace memories/ann, thread t1" in warning


def test_memories_left_out_by_the_budget_are_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    memories = store()
    for i in range(5):
        text = f"User fact {i}: likes tea " + "and more words " * 40
        memories.put(NS, f"m{i}", {"kind": "Memory", "content": {"content": text}})
    model = ScriptedChatModel(responder=lambda r: "")
    manager = create_memory_store_manager(model, store=memories, token_budget=1200)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        report = manager.invoke(said("I like tea."), CONFIG).report
    assert report.memories_not_shown > 0
    assert any(
        "left out of the prompt by the token budget" in r.getMessage() for r in caplog.records
    )


def test_stale_versions_are_a_warning_with_what_to_do(caplog: pytest.LogCaptureFixture) -> None:
    memories = store()
    memories.put(NS, "city", {"kind": "Memory", "content": {"content": "User lives in Lyon"}})
    edits: list[int] = []

    def update_while_someone_else_writes(request: ScriptedRequest) -> dict[str, Any]:
        edits.append(1)
        value = {"kind": "Memory", "content": {"content": f"User lives in Lyon ({len(edits)})"}}
        memories.put(NS, "city", value)
        return tool_call("Memory", {"content": "Paris", "memory_id": alias_of(request, "Lyon")})

    model = ScriptedChatModel(responder=update_while_someone_else_writes)
    manager = create_memory_store_manager(model, store=memories)
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(ConflictError):
        manager.invoke(said("I moved to Paris."), CONFIG)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("memory run failed namespace=memories/ann thread=t1")
    assert "error=ConflictError" in warning and "stale versions" in warning
