"""Guarantees docs/observability.md states about usage records, folding and tracing, each
checked by what a user can observe.

- Usage and memories never disagree: a run killed before (or inside) the commit that stores its
  last memories and its usage record leaves neither.
- When the store itself fails, a failed run's record is given up with a warning and the run's
  own error is raised.
- Folding old records is one checked commit (a concurrent fold makes it write nothing), and
  per-run records are kept for at least a week.
- When nobody listens (no callback handler, no recording span), runs and phases are not traced.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler, CallbackManager
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore, Op, PutOp, Result
from langgraph.store.memory import InMemoryStore
from opentelemetry import trace
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from reverie import create_memory_store_manager
from reverie.core.effects import Commit, Pipeline, run
from reverie.core.errors import ProviderError
from reverie.core.ports import CommitResult, Expectation, Write
from reverie.extraction.report import RunReport
from reverie.ledger import port_for
from reverie.ledger.usage import (
    FOLD_AT,
    days_namespace,
    read_usage,
    usage_namespace,
    usage_put,
)
from reverie.ledger.usage_totals import DailyUsage, overall
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from tests.usage.test_run_usage import remember_each_line, said
from tests.usage.test_traces import spans

__all__ = ["spans"]  # the shared in-memory span exporter fixture (one global tracer provider)

NS = ("memories", "ann")
CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "ann", "thread_id": "t1"}}
TODAY = date(2026, 3, 20)
PHASES = ("reverie.retrieve", "reverie.model", "reverie.commit")


def memories(store: BaseStore) -> list[str]:
    return sorted(i.value["content"]["content"] for i in store.search(NS, limit=1000))


# --------------------------------------------------------------------------------------------
# (a) "written in the same commit as the run's last chunk of memories, so usage and memories
#     never disagree (a run killed before that commit leaves neither)"
# --------------------------------------------------------------------------------------------

# A writer process that is SIGKILLed at a chosen point of its run, as tests/reliability's fault
# tests kill theirs, but deterministically: "commit" kills it inside the run's one commit, after
# the memory's row was written and as the usage record's row is about to be (SQLite's trace
# callback sees each statement); "second_call" kills it in its second model call, after the
# first chunk's commit.
_KILLED_WRITER = r"""
import os, signal, sqlite3, sys

mode, path, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = sys.argv[4:]
_connect = sqlite3.connect
memory_rows = []


def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)

    def watch(sql):
        if sql.startswith("INSERT INTO items") and lines[0] in sql:
            memory_rows.append(sql)
        if mode == "commit" and "__reverie__.usage." in sql and memory_rows:
            print(f"killed in_transaction={conn.in_transaction}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    conn.set_trace_callback(watch)
    return conn


sqlite3.connect = connect

from reverie import create_memory_store_manager
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import ScriptedChatModel, hashing_index, tool_call
from tests.helpers import new_conversation

calls = []


def responder(request):
    calls.append(1)
    if mode == "second_call" and len(calls) == 2:
        print("killed in the second model call", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    said = new_conversation(request).strip().splitlines()
    return [tool_call("Memory", {"content": l.removeprefix("user: ")}) for l in said]


with EmbeddedStore(path, index=hashing_index()) as store:
    manager = create_memory_store_manager(
        ScriptedChatModel(responder=responder), store=store, token_budget=budget
    )
    config = {"configurable": {"langgraph_user_id": "ann", "thread_id": "t1"}}
    manager.invoke({"messages": [{"role": "user", "content": l} for l in lines]}, config)
print("finished", flush=True)
"""


def _run_killed_writer(mode: str, path: Path, budget: int, lines: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, mode, str(path), str(budget), *lines],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    return child.stdout


def _reopened_manager(store: BaseStore, budget: int = 4000) -> Any:
    return create_memory_store_manager(
        ScriptedChatModel(responder=remember_each_line), store=store, token_budget=budget
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
def test_a_run_killed_inside_its_last_commit_leaves_neither_memories_nor_usage(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memories.db"
    out = _run_killed_writer("commit", path, 4000, ["I have a cat named Miso."])
    # The kill landed inside the commit, after the memory row and before the usage row.
    assert out.strip() == "killed in_transaction=True"

    with EmbeddedStore(path, index=hashing_index()) as store:
        manager = _reopened_manager(store)
        assert memories(store) == []
        assert manager.runs(config=CONFIG) == []
        assert manager.usage(config=CONFIG) == []
        assert manager.history(config=CONFIG) == []

        # The same run, not killed, leaves both, and they agree.
        report = manager.invoke(said("I have a cat named Miso."), CONFIG).report
        assert memories(store) == ["I have a cat named Miso."]
        (record,) = manager.runs(config=CONFIG)
        assert (record.run_id, record.inserted, record.error) == (report.run_id, 1, None)
        assert [c.run_id for c in manager.history(config=CONFIG)] == [record.run_id]
        (day,) = manager.usage(config=CONFIG)
        assert (day.totals.runs, day.totals.inserted) == (1, 1)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
def test_a_run_of_several_chunks_killed_between_them_leaves_a_record_of_the_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memories.db"
    lines = [f"Fact number {i}: " + "words " * 200 for i in range(2)]  # two chunks
    out = _run_killed_writer("second_call", path, 900, lines)
    assert out.strip() == "killed in the second model call"

    with EmbeddedStore(path, index=hashing_index()) as store:
        manager = _reopened_manager(store, 900)
        records = manager.runs(config=CONFIG)
        stored = memories(store)
        # Each chunk is committed with the record of the run so far: the first chunk's memory
        # is stored, and so is a record that counts it.
        assert stored == [lines[0].strip()] or len(stored) == 1
        (record,) = records
        assert (record.inserted, record.written) == (1, 1)


class FailingCommits(EmbeddedStore):
    """An embedded store whose next ``failing`` commits raise, as a dropped connection or a
    lock held past the busy timeout would; plain batches keep working."""

    failing = 0

    def commit(self, expected: Iterable[Expectation], writes: Iterable[Write]) -> CommitResult:
        if self.failing:
            self.failing -= 1
            raise ConnectionError("connection reset during commit")
        return super().commit(list(expected), list(writes))


def test_a_run_whose_commit_failed_records_no_memories_it_did_not_store(tmp_path: Path) -> None:
    store = FailingCommits(tmp_path / "memories.db", index=hashing_index())
    with store:
        store.failing = 1
        manager = _reopened_manager(store)
        with pytest.raises(ConnectionError):
            manager.invoke(said("I have a cat named Miso."), CONFIG)
        assert memories(store) == []
        (record,) = manager.runs(config=CONFIG)
        assert record.error is not None and record.error.startswith("ConnectionError")
        # Usage and memories never disagree: nothing was inserted, so nothing is counted.
        assert (record.inserted, record.written) == (0, 0)


# --------------------------------------------------------------------------------------------
# (b) "If the store itself is failing, the record is given up (with a warning) and the run's
#     own error is raised."
# --------------------------------------------------------------------------------------------


class _Breakable:
    """Mixin: once ``broken``, every write (a batch with a put, or a commit) raises."""

    broken = False

    def _check(self, ops: Iterable[Any]) -> list[Any]:
        ops = list(ops)
        if self.broken and any(isinstance(op, PutOp) for op in ops):
            raise ConnectionError("the store is down")
        return ops


class BreakableMemoryStore(_Breakable, InMemoryStore):
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return super().batch(self._check(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await super().abatch(self._check(ops))


class BreakableEmbeddedStore(_Breakable, EmbeddedStore):
    def batch(self, ops: Iterable[Any]) -> list[Result]:
        return super().batch(self._check(ops))

    async def abatch(self, ops: Iterable[Any]) -> list[Result]:
        return await super().abatch(self._check(ops))

    def commit(self, expected: Iterable[Expectation], writes: Iterable[Write]) -> CommitResult:
        return super().commit(list(expected), self._check(writes))

    async def acommit(
        self, expected: Iterable[Expectation], writes: Iterable[Write]
    ) -> CommitResult:
        return await super().acommit(list(expected), self._check(writes))


Breakable = BreakableMemoryStore | BreakableEmbeddedStore


@pytest.fixture(params=["memory", "embedded"])
def breakable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Breakable]:
    if request.param == "memory":
        yield BreakableMemoryStore(index=hashing_index())
    else:
        store = BreakableEmbeddedStore(tmp_path / "memories.db", index=hashing_index())
        with store:
            yield store


def _gave_up_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "usage record" in r.getMessage()
    ]


@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke"])
async def test_a_failed_run_on_a_failing_store_raises_its_own_error_and_warns(
    breakable: Breakable, caplog: pytest.LogCaptureFixture, use_async: bool
) -> None:
    store = breakable

    def fail_as_the_store_goes_down(request: ScriptedRequest) -> AIMessage:
        store.broken = True
        raise RuntimeError("Error code: 500 - internal server error")

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=fail_as_the_store_goes_down), store=store
    )
    caplog.set_level(logging.WARNING, logger="reverie")
    # The run's own error (the provider's), not the store's failure to keep its record.
    with pytest.raises(ProviderError, match="internal server error"):
        if use_async:
            await manager.ainvoke(said("I have a cat."), CONFIG)
        else:
            manager.invoke(said("I have a cat."), CONFIG)
    (warning,) = _gave_up_warnings(caplog)
    assert "could not be stored" in warning and "the store is down" in warning

    store.broken = False  # the record was given up, not kept for later
    assert manager.runs(config=CONFIG) == []
    assert manager.usage(config=CONFIG) == []


def test_a_run_whose_commit_meets_a_failing_store_raises_the_store_error_and_warns(
    breakable: Breakable, caplog: pytest.LogCaptureFixture
) -> None:
    store = breakable

    def remember_as_the_store_goes_down(request: ScriptedRequest) -> dict[str, Any]:
        store.broken = True
        return tool_call("Memory", {"content": "User has a cat"})

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=remember_as_the_store_goes_down), store=store
    )
    caplog.set_level(logging.WARNING, logger="reverie")
    with pytest.raises(ConnectionError, match="the store is down"):
        manager.invoke(said("I have a cat."), CONFIG)
    assert len(_gave_up_warnings(caplog)) == 1
    store.broken = False
    assert manager.runs(config=CONFIG) == [] and memories(store) == []


# --------------------------------------------------------------------------------------------
# (c) Folding: "in one checked commit (a concurrent fold makes it write nothing)" and "Per-run
#     records ... are therefore kept for at least a week."
# --------------------------------------------------------------------------------------------


def _record(store: BaseStore, index: int, started: datetime, job_id: int | None = None) -> None:
    store.batch([usage_put(_report(index, started, job_id))])


def _report(index: int, started: datetime, job_id: int | None = None) -> RunReport:
    report = RunReport(run_id=f"run-{index:04d}", namespace=NS, started_at=started)
    report.model_name = "gpt-test"
    report.model_calls = 1
    report.input_tokens = 100
    report.inserted = 1
    report.job_id = job_id
    return report


def _records(store: BaseStore, reports: Iterable[RunReport]) -> None:
    store.batch([usage_put(r) for r in reports])


def _at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=timezone.utc)


def _run_keys(store: BaseStore) -> list[str]:
    return sorted(i.key for i in store.search(usage_namespace(NS), limit=2000))


def _day_keys(store: BaseStore) -> list[str]:
    return sorted(i.key for i in store.search(days_namespace(NS), limit=100))


def _run_pausing_at_commits(
    pipeline: Pipeline[list[DailyUsage]], meanwhile: Callable[[], None]
) -> tuple[list[DailyUsage], list[CommitResult]]:
    """Drive ``pipeline`` as ``run`` does, calling ``meanwhile`` just before each commit."""
    results: list[CommitResult] = []
    try:
        effect = next(pipeline)
        while True:
            if isinstance(effect, Commit):
                meanwhile()
                result = effect.perform()
                results.append(result)
                effect = pipeline.send(result)
            else:
                effect = pipeline.send(effect.perform())
    except StopIteration as done:
        return done.value, results


def test_a_fold_that_another_fold_overtook_writes_nothing(any_store: BaseStore) -> None:
    old = TODAY - timedelta(days=30)
    _records(any_store, (_report(i, _at(old, i % 24)) for i in range(FOLD_AT)))
    port = port_for(any_store)

    def another_reader_folds_first() -> None:
        # A late record for the same old day arrives, then another read folds all 201.
        _record(any_store, FOLD_AT, _at(old, 3))
        run(read_usage(port, NS, today=TODAY))
        assert _run_keys(any_store) == [] and _day_keys(any_store) == [old.isoformat()]

    # This read saw 200 records and no daily total; by its commit, both have changed.
    read, commits = _run_pausing_at_commits(
        read_usage(port, NS, today=TODAY), another_reader_folds_first
    )
    assert [c.committed for c in commits] == [False]
    assert overall(read).runs == FOLD_AT  # what it read is right as of its read
    # It wrote nothing: had it written its 200-run total over the other fold's, a run would be lost.
    (day,) = any_store.search(days_namespace(NS))
    assert day.value["totals"]["runs"] == FOLD_AT + 1
    assert overall(run(read_usage(port, NS, today=TODAY))).runs == FOLD_AT + 1
    assert _run_keys(any_store) == []


def test_records_of_the_last_seven_days_are_never_folded(any_store: BaseStore) -> None:
    horizon = TODAY - timedelta(days=7)  # "kept for at least a week"
    port = port_for(any_store)
    # Plenty of records 6 and 7 days old (every hour of those days), and one short of FOLD_AT
    # records 8 days old: nothing is old enough to fold yet.
    recent = [_report(i, _at(horizon + timedelta(days=i % 2), i % 24)) for i in range(FOLD_AT)]
    eight_days = horizon - timedelta(days=1)
    older = [_report(FOLD_AT + i, _at(eight_days, 23, 59, 59)) for i in range(FOLD_AT - 1)]
    _records(any_store, [*recent, *older])
    assert overall(run(read_usage(port, NS, today=TODAY))).runs == 2 * FOLD_AT - 1
    assert _day_keys(any_store) == [] and len(_run_keys(any_store)) == 2 * FOLD_AT - 1

    # One more record 8 days old makes FOLD_AT: they are folded, and only they.
    _record(any_store, 2 * FOLD_AT, _at(eight_days, 0))
    assert overall(run(read_usage(port, NS, today=TODAY))).runs == 2 * FOLD_AT
    assert _day_keys(any_store) == [eight_days.isoformat()]
    assert _run_keys(any_store) == sorted(r.run_id or "" for r in recent)
    assert overall(run(read_usage(port, NS, today=TODAY))).runs == 2 * FOLD_AT


def test_a_job_record_just_under_a_week_old_survives_a_fold(any_store: BaseStore) -> None:
    """In real time, through the manager: a folding read keeps every record younger than a
    week, so a durable job's usage is still there to read."""
    now = datetime.now(timezone.utc)
    manager = create_memory_store_manager(
        ScriptedChatModel(responder=remember_each_line), store=any_store
    )
    stale = [_report(i, now - timedelta(days=8, minutes=i)) for i in range(FOLD_AT)]
    week_old = _report(FOLD_AT, now - timedelta(days=7) + timedelta(minutes=1), job_id=42)
    six_days = _report(FOLD_AT + 1, now - timedelta(days=6), job_id=43)
    _records(any_store, [*stale, week_old, six_days])

    assert overall(manager.usage(config=CONFIG)).runs == FOLD_AT + 2  # reads, then folds
    assert _run_keys(any_store) == [week_old.run_id, six_days.run_id]
    assert _day_keys(any_store) != []
    assert [r.run_id for r in manager.runs(job_id=42, config=CONFIG)] == [week_old.run_id]
    assert [r.run_id for r in manager.runs(job_id=43, config=CONFIG)] == [six_days.run_id]
    assert overall(manager.usage(config=CONFIG)).runs == FOLD_AT + 2


# --------------------------------------------------------------------------------------------
# (d) "When nobody listens (no callback handler, no recording span), runs and phases are not
#     traced at all."
# --------------------------------------------------------------------------------------------


class Starts:
    """What tracing was started: LangChain chain runs named ``reverie.*`` (through either
    callback manager) and OpenTelemetry spans (through the SDK's tracer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.chain_runs: list[str] = []
        self.spans: list[str] = []
        sync_start = CallbackManager.on_chain_start
        async_start = AsyncCallbackManager.on_chain_start
        span_start = sdk_trace.Tracer.start_span

        def on_chain_start(manager: CallbackManager, *args: Any, **kwargs: Any) -> Any:
            self._chain(kwargs)
            return sync_start(manager, *args, **kwargs)

        async def aon_chain_start(manager: AsyncCallbackManager, *args: Any, **kwargs: Any) -> Any:
            self._chain(kwargs)
            return await async_start(manager, *args, **kwargs)

        def start_span(tracer: sdk_trace.Tracer, name: str, *args: Any, **kwargs: Any) -> Any:
            self.spans.append(name)
            return span_start(tracer, name, *args, **kwargs)

        monkeypatch.setattr(CallbackManager, "on_chain_start", on_chain_start)
        monkeypatch.setattr(AsyncCallbackManager, "on_chain_start", aon_chain_start)
        monkeypatch.setattr(sdk_trace.Tracer, "start_span", start_span)

    def _chain(self, kwargs: dict[str, Any]) -> None:
        name = str(kwargs.get("name") or "")
        if name.startswith("reverie."):
            self.chain_runs.append(name)


class Handler(BaseCallbackHandler):
    pass


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> Starts:
    for variable in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.delenv(variable, raising=False)
    return Starts(monkeypatch)


def _parent(sampled: bool) -> NonRecordingSpan:
    """A remote parent span, sampled or not: under an unsampled one no span records."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=flags))


def _tracing_manager() -> Any:
    model = ScriptedChatModel(responder=lambda r: tool_call("Memory", {"content": "Likes tea"}))
    return create_memory_store_manager(model, store=InMemoryStore(index=hashing_index()))


def test_with_no_handler_and_no_recording_span_nothing_is_traced(
    spans: InMemorySpanExporter, starts: Starts
) -> None:
    memory = _tracing_manager()
    with trace.use_span(_parent(sampled=False)):
        report = memory.invoke(said("I like tea."), CONFIG).report
    assert report.inserted == 1 and report.run_id is not None  # accounted all the same
    assert list(spans.get_finished_spans()) == []
    assert starts.chain_runs == []
    # At most the run's own span is asked for (to learn nobody records it); no phase is.
    assert not set(starts.spans) & set(PHASES)
    assert len(starts.spans) <= 1

    # Contrast: with a listener of each kind the same run and its phases are traced.
    with trace.use_span(_parent(sampled=True)):
        memory.invoke(said("I like green tea."), {**CONFIG, "callbacks": [Handler()]})
    assert starts.chain_runs == ["reverie.memory_run", *PHASES]
    assert sorted(s.name for s in spans.get_finished_spans()) == sorted(
        ["reverie.memory_run", *PHASES]
    )


async def test_async_runs_with_no_handler_and_no_recording_span_are_not_traced(
    spans: InMemorySpanExporter, starts: Starts
) -> None:
    memory = _tracing_manager()
    with trace.use_span(_parent(sampled=False)):
        report = (await memory.ainvoke(said("I like tea."), CONFIG)).report
    assert report.inserted == 1
    assert list(spans.get_finished_spans()) == []
    assert starts.chain_runs == []
    assert not set(starts.spans) & set(PHASES) and len(starts.spans) <= 1
