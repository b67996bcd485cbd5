"""Each run's usage: on its report, on the executor's future, in its stored record and in the
daily totals, and all of them agree, on every store backend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie import ConflictError, create_memory_store_manager
from reverie.core.errors import ProviderError
from reverie.executor import ReflectionExecutor
from reverie.extraction.report import ReportedList, RunReport
from reverie.ledger.usage import usage_namespace
from reverie.ledger.usage_totals import overall
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import alias_of, new_conversation

NS = ("memories", "ann")
COUNTED = (
    "model_calls",
    "query_calls",
    "input_tokens",
    "output_tokens",
    "tokens_estimated",
    "embedding_calls",
    "embedded_texts",
    "inserted",
    "updated",
    "superseded",
    "deleted",
    "written",
    "model_name",
    "namespace",
    "thread_id",
    "run_id",
    "error",
)


def config(thread: str = "t1") -> RunnableConfig:
    return {"configurable": {"langgraph_user_id": "ann", "thread_id": thread}}


def said(*lines: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": line} for line in lines]}


def remember_each_line(request: ScriptedRequest) -> list[dict[str, Any]] | AIMessage:
    lines = new_conversation(request).strip().splitlines()
    facts = [line.removeprefix("user: ") for line in lines if line.startswith("user: ")]
    return [tool_call("Memory", {"content": f}) for f in facts] or AIMessage(content="")


def counted(report: RunReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in COUNTED}


def test_usage_agrees_on_the_report_the_future_the_record_and_the_day(
    any_store: BaseStore,
) -> None:
    model = ScriptedChatModel(responder=remember_each_line)
    manager = create_memory_store_manager(model, store=any_store)
    direct = manager.invoke(said("I have a cat named Miso."), config("t1"))
    with ReflectionExecutor(manager, store=any_store) as executor:
        future = executor.submit(said("I play the cello.", "I live in Lyon."), config("t2"))
        background = future.result(timeout=30)

    assert isinstance(background, ReportedList)
    reports = [direct.report, background.report]
    # Tokens are the provider's (the scripted model reports what it counted), nothing estimated.
    assert [r.input_tokens for r in reports] == [c.input_tokens for c in model.calls]
    assert [r.output_tokens for r in reports] == [c.output_tokens for c in model.calls]
    assert not any(r.tokens_estimated for r in reports)
    assert [(r.inserted, r.written, r.model_calls) for r in reports] == [(1, 1, 1), (2, 2, 1)]
    assert [r.thread_id for r in reports] == ["t1", "t2"]
    # A query is embedded per search, and each commit embeds the memories it writes.
    assert [(r.embedding_calls, r.embedded_texts) for r in reports] == [(2, 2), (2, 3)]
    assert all(r.model_name == "scripted" and r.namespace == NS for r in reports)
    assert all(r.duration_ms >= r.retrieve_ms + r.model_ms > 0 for r in reports)

    records = manager.runs(config=config())
    assert [counted(r) for r in records] == [counted(r) for r in reports]
    # The audit trail names the run behind each change.
    changes = manager.history(config=config())
    assert [c.run_id for c in changes] == [reports[0].run_id] + [reports[1].run_id] * 2

    (day,) = manager.usage(config=config())
    assert day.namespace == NS and day.day == datetime.now(timezone.utc).date()
    totals = day.totals
    assert (totals.runs, totals.failed_runs, totals.calls) == (2, 0, 2)
    assert totals.input_tokens == model.input_tokens
    assert totals.output_tokens == model.output_tokens
    assert totals.tokens_by_model == {"scripted": [model.input_tokens, model.output_tokens]}
    assert (totals.inserted, totals.updated, totals.deleted, totals.embedded_texts) == (3, 0, 0, 5)


def test_without_usage_metadata_tokens_are_counted_and_marked_as_estimates(
    any_store: BaseStore,
) -> None:
    model = ScriptedChatModel(responder=remember_each_line, reports_usage=False)
    manager = create_memory_store_manager(model, store=any_store)
    report = manager.invoke(said("I have a cat named Miso."), config()).report
    # Counted as the replay benchmark counts (the scripted model records that count).
    assert (report.input_tokens, report.output_tokens) == (model.input_tokens, model.output_tokens)
    assert report.input_tokens > 0 and report.tokens_estimated
    (record,) = manager.runs(config=config())
    assert record.tokens_estimated and record.input_tokens == report.input_tokens
    (day,) = manager.usage(config=config())
    assert day.totals.estimated_runs == 1 and day.totals.input_tokens == model.input_tokens


async def test_the_async_run_accounts_the_same(any_store: BaseStore) -> None:
    model = ScriptedChatModel(responder=remember_each_line)
    manager = create_memory_store_manager(model, store=any_store)
    report = (await manager.ainvoke(said("I have a cat named Miso."), config())).report
    assert (report.input_tokens, report.inserted) == (model.input_tokens, 1)
    (record,) = await manager.aruns(config=config())
    assert counted(record) == counted(report)
    (day,) = await manager.ausage(config=config())
    assert day.totals.runs == 1 and day.totals.input_tokens == model.input_tokens


def test_the_record_is_stored_with_the_memories_of_the_last_chunk(any_store: BaseStore) -> None:
    model = ScriptedChatModel(responder=remember_each_line)
    manager = create_memory_store_manager(model, store=any_store, token_budget=900)
    lines = [f"Fact number {i}: " + "words " * 60 for i in range(6)]
    report = manager.invoke(said(*lines), config()).report
    assert report.model_calls > 1  # several chunks, one commit each
    (record,) = manager.runs(config=config())
    assert record.inserted == report.inserted == len(any_store.search(NS, limit=100)) == 6
    assert record.model_calls == report.model_calls
    # The record's latencies stop where the commit that stores it starts.
    assert record.commit_ms <= report.commit_ms and record.duration_ms <= report.duration_ms


def test_a_failed_run_is_recorded_in_a_commit_of_its_own(any_store: BaseStore) -> None:
    def fail(request: ScriptedRequest) -> AIMessage:
        raise RuntimeError("Error code: 500 - internal server error")

    manager = create_memory_store_manager(ScriptedChatModel(responder=fail), store=any_store)
    with pytest.raises(ProviderError):
        manager.invoke(said("I have a cat."), config())
    (record,) = manager.runs(config=config())
    assert record.error is not None and record.error.startswith("ProviderError")
    (day,) = manager.usage(config=config())
    assert (day.totals.runs, day.totals.failed_runs) == (1, 1)


def test_a_run_that_gave_up_on_conflicts_counts_them(any_store: BaseStore) -> None:
    any_store.put(NS, "city", {"kind": "Memory", "content": {"content": "User lives in Lyon"}})
    edits: list[int] = []

    def update_while_someone_else_writes(request: ScriptedRequest) -> dict[str, Any]:
        edits.append(1)
        value = {"kind": "Memory", "content": {"content": f"User lives in Lyon ({len(edits)})"}}
        any_store.put(NS, "city", value)
        return tool_call("Memory", {"content": "Paris", "memory_id": alias_of(request, "Lyon")})

    model = ScriptedChatModel(responder=update_while_someone_else_writes)
    manager = create_memory_store_manager(model, store=any_store)
    with pytest.raises(ConflictError):
        manager.invoke(said("I moved to Paris."), config())
    (record,) = manager.runs(config=config())
    assert (record.conflicts, record.model_calls, record.updated) == (3, 3, 0)
    assert record.error is not None and record.error.startswith("ConflictError")


def test_runs_with_nothing_to_do_and_managers_without_usage_leave_no_record(
    any_store: BaseStore,
) -> None:
    model = ScriptedChatModel(responder=remember_each_line)
    manager = create_memory_store_manager(model, store=any_store)
    manager.invoke(said("I have a cat."), config())
    again = manager.invoke(said("I have a cat."), config())  # nothing new since the watermark
    assert again.report.nothing_stored == "no_new_messages" and again.report.calls == 0
    assert len(manager.runs(config=config())) == 1

    silent = create_memory_store_manager(model, store=any_store, usage=False)
    report = silent.invoke(said("I play the cello."), config("t2")).report
    assert report.inserted == 1 and report.input_tokens > 0  # still counted on the report
    assert report.run_id is None and report.duration_ms == 0.0
    assert len(manager.runs(config=config())) == 1


def test_the_query_model_is_counted(any_store: BaseStore) -> None:
    queries = ScriptedChatModel(
        responder=lambda r: tool_call("search_memory", {"query": "pets"}), model_name="small"
    )
    model = ScriptedChatModel(responder=remember_each_line)
    manager = create_memory_store_manager(model, query_model=queries, store=any_store)
    report = manager.invoke(said("I have a cat."), config()).report
    assert (report.model_calls, report.query_calls, report.calls) == (1, 1, 2)
    assert report.input_tokens == model.input_tokens + queries.input_tokens


def test_runs_and_usage_select_by_time(any_store: BaseStore) -> None:
    manager = create_memory_store_manager(
        ScriptedChatModel(responder=remember_each_line), store=any_store
    )
    manager.invoke(said("I have a cat."), config())
    now = datetime.now(timezone.utc)
    assert len(manager.runs(timedelta(hours=1), config=config())) == 1
    assert manager.runs(now + timedelta(seconds=5), config=config()) == []
    assert manager.usage((now + timedelta(days=1)).date(), config=config()) == []
    assert overall(manager.usage(now.date(), config=config())).runs == 1
    # Records live in Reverie's bookkeeping, never among the memories.
    assert [i.key for i in any_store.search(usage_namespace(NS))] == [
        r.run_id for r in manager.runs(config=config())
    ]
    assert all(i.namespace == NS for i in any_store.search(NS))


@pytest.mark.parametrize(("supersede", "counts"), [(True, (0, 1, 1)), (False, (1, 0, 1))])
def test_changes_are_counted_as_updates_or_supersessions(
    any_store: BaseStore, supersede: bool, counts: tuple[int, int, int]
) -> None:
    any_store.put(NS, "city", {"kind": "Memory", "content": {"content": "User lives in Lyon"}})
    any_store.put(NS, "pet", {"kind": "Memory", "content": {"content": "User has a dog"}})

    def move_and_forget(request: ScriptedRequest) -> list[dict[str, Any]]:
        return [
            tool_call("Memory", {"content": "Paris", "memory_id": alias_of(request, "Lyon")}),
            tool_call("forget", {"ids": [alias_of(request, "dog")]}),
        ]

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=move_and_forget),
        store=any_store,
        enable_deletes=True,
        supersede=supersede,
        query_limit=5,
    )
    report = manager.invoke(said("I moved to Paris; the dog lives with my sister now."), config())
    assert (report.report.updated, report.report.superseded, report.report.deleted) == counts
    (day,) = manager.usage(config=config())
    assert (day.totals.updated, day.totals.superseded, day.totals.deleted) == counts
