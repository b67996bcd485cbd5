"""The durable queue's retries and debounce, as docs/background.md and docs/reliability.md state them.

Failed jobs are retried with backoff (up to 5 attempts) except configuration, input and namespace
errors, which fail once; the latest payload of a thread wins across submitters, and jobs of one
thread never run at the same time. Workers run in this process, so the reflector below (and the
manager factory) share this module's state with the test. The backoff (2, 4, 8, 16 s) has no
setting: instead of sleeping through it, the tests read how long a retry was scheduled to wait and
then make it due at once (``_bring_retries_forward``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.core.errors import (
    ConfigurationError,
    InputError,
    NamespaceError,
    ProviderError,
    StoreError,
)
from reverie.executor.durable import DurableReflectionExecutor
from reverie.executor.worker import run_worker_async
from reverie.stores.postgres import ReveriePostgresStore
from reverie.testing import ScriptedChatModel, ScriptedRequest
from tests.executor import durable_app
from tests.postgres.support import fresh_database

# This very module, as the workers import it (whatever name pytest gave it).
REFLECT = f"{__name__}:reflect"
FLAKY_MANAGER = f"{__name__}:flaky_manager"
RACE_ROUNDS = 30
ERRORS: dict[str, type[Exception]] = {
    error.__name__: error
    for error in (ConfigurationError, InputError, NamespaceError, ProviderError, StoreError)
}


@dataclass
class _State:
    """What the in-process workers did: each run of ``reflect`` (label, attempt), start and end."""

    runs: list[tuple[str, int]] = field(default_factory=list)
    spans: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    model_failures_left: int = 0
    model_calls: int = 0
    manager: MemoryStoreManager | None = None
    store: ReveriePostgresStore | None = None


STATE = _State()


async def reflect(payload: dict[str, Any], config: RunnableConfig) -> None:
    """The work of a job: raises ``payload["fail"][n]`` on its n-th attempt, if there is one;
    with ``hold`` it waits for the test's gate, holding its thread's lock meanwhile."""
    label = str(payload["label"])
    attempt = sum(1 for ran, _ in STATE.runs if ran == label) + 1
    STATE.runs.append((label, attempt))
    STATE.spans[label] = (time.monotonic(), None)
    try:
        failures = list(payload.get("fail", []))
        if attempt <= len(failures):
            raise ERRORS[failures[attempt - 1]](f"{label}: scripted failure on attempt {attempt}")
        if payload.get("hold"):
            assert STATE.gate is not None
            await STATE.gate.wait()
    finally:
        STATE.spans[label] = (STATE.spans[label][0], time.monotonic())


def _flaky_model(request: ScriptedRequest) -> list[dict] | str:
    STATE.model_calls += 1
    if STATE.model_failures_left > 0:
        STATE.model_failures_left -= 1
        raise ConnectionError("connection refused: the model server is restarting")
    return durable_app.remember_user_lines(request)


def flaky_manager() -> MemoryStoreManager:
    """The manager of ``tests.executor.durable_app`` on a model whose first calls fail to connect
    (``STATE.model_failures_left``); built once per test, whichever worker asks."""
    if STATE.manager is None:
        STATE.store = durable_app.open_store(os.environ[durable_app.DSN_ENV])
        model = ScriptedChatModel(responder=_flaky_model)
        STATE.manager = create_memory_store_manager(
            model, namespace=durable_app.NAMESPACE, store=STATE.store
        )
    return STATE.manager


@pytest.fixture
def dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    global STATE
    STATE = _State()
    with fresh_database() as url:
        monkeypatch.setenv(durable_app.DSN_ENV, url)
        durable_app.open_store(url).close()  # create the memory tables once, up front
        try:
            yield url
        finally:
            if STATE.store is not None:
                STATE.store.close()


def job(label: str, **script: Any) -> dict[str, Any]:
    return {"label": label, **script}


def config(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "langgraph_user_id": f"user-{thread}"}}


def _jobs(dsn: str) -> dict[int, tuple[str, int]]:
    """Every job's (status, attempts), by id."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, status, attempts FROM procrastinate_jobs").fetchall()
    return {job_id: (status, attempts) for job_id, status, attempts in rows}


def _waiting(dsn: str, thread: str) -> int:
    """How many jobs of ``thread`` wait in the queue."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE status = 'todo' AND args->>'thread_id' = %s",
            (thread,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _bring_retries_forward(dsn: str) -> dict[int, float]:
    """The seconds each job waiting for a retry still had to wait; those retries are due now."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "WITH waiting AS (SELECT id, scheduled_at FROM procrastinate_jobs"
            " WHERE status = 'todo' AND scheduled_at > now() FOR UPDATE)"
            " UPDATE procrastinate_jobs AS jobs SET scheduled_at = now() FROM waiting"
            " WHERE jobs.id = waiting.id"
            " RETURNING jobs.id, extract(epoch FROM waiting.scheduled_at - now())::float8"
        ).fetchall()
    return {job_id: seconds for job_id, seconds in rows}


async def _run_until_settled(app: str, dsn: str, rounds: int = 10) -> list[dict[int, float]]:
    """Run a worker until no retry is waiting, skipping each backoff; the waits it skipped."""
    skipped: list[dict[int, float]] = []
    for _ in range(rounds):
        await run_worker_async(app, dsn, wait=False)
        waits = _bring_retries_forward(dsn)
        if not waits:
            return skipped
        skipped.append(waits)
    raise AssertionError(f"jobs still retrying after {rounds} rounds: {_jobs(dsn)}")


def _conversation(*lines: str) -> dict[str, Any]:
    return {"messages": [m for line in lines for m in (HumanMessage(line), AIMessage("noted"))]}


def _memories(dsn: str, user: str) -> list[str]:
    store = durable_app.open_store(dsn)
    try:
        items = store.search(("memories", user), limit=100)
        return sorted(i.value["content"]["content"] for i in items if i.namespace[-1] == user)
    finally:
        store.close()


async def test_a_transient_model_failure_is_retried_with_backoff_until_it_succeeds(
    dsn: str,
) -> None:
    STATE.model_failures_left = 4  # the first four attempts cannot reach the model
    with DurableReflectionExecutor(FLAKY_MANAGER, dsn) as executor:
        submitted = executor.submit(_conversation("I live in Lyon", "I play cello"), config("a"))
        job_id = submitted.result()

    skipped = await _run_until_settled(FLAKY_MANAGER, dsn)

    # Four failed attempts, each retried after a longer wait (2, 4, 8, 16 s); the fifth succeeds.
    waits = [w[job_id] for w in skipped]
    assert len(waits) == 4, waits
    for waited, backoff in zip(waits, (2, 4, 8, 16), strict=True):
        assert backoff - 1.5 < waited <= backoff + 0.5, waits
    assert STATE.model_calls == 5
    assert _jobs(dsn) == {job_id: ("succeeded", 5)}
    # The retried job wrote its memories once, as if it had never failed.
    assert _memories(dsn, "user-a") == ["I live in Lyon", "I play cello"]


@pytest.mark.parametrize("transient", ["ProviderError", "StoreError"])
async def test_a_job_is_retried_after_transient_errors_and_runs_once_more_when_they_stop(
    dsn: str, transient: str
) -> None:
    with DurableReflectionExecutor(REFLECT, dsn) as executor:
        flaky = executor.submit(job("flaky", fail=[transient, transient]), config("t1")).result()
        steady = executor.submit(job("steady"), config("t2")).result()

    skipped = await _run_until_settled(REFLECT, dsn)

    assert [sorted(w) for w in skipped] == [[flaky], [flaky]]
    assert STATE.runs.count(("flaky", 3)) == 1 and ("flaky", 4) not in STATE.runs
    assert ("steady", 1) in STATE.runs and ("steady", 2) not in STATE.runs
    assert _jobs(dsn) == {flaky: ("succeeded", 3), steady: ("succeeded", 1)}


async def test_a_job_that_always_fails_transiently_fails_after_5_attempts(dsn: str) -> None:
    with DurableReflectionExecutor(REFLECT, dsn) as executor:
        job_id = executor.submit(job("doomed", fail=["ProviderError"] * 10), config("t")).result()

    await _run_until_settled(REFLECT, dsn)

    runs = [attempt for label, attempt in STATE.runs if label == "doomed"]
    assert (_jobs(dsn)[job_id], len(runs)) == (("failed", 5), 5)


async def test_configuration_input_and_namespace_errors_fail_once_without_a_retry(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    permanent = ["ConfigurationError", "InputError", "NamespaceError"]
    with DurableReflectionExecutor(REFLECT, dsn) as executor:
        ids = {
            name: executor.submit(job(name, fail=[name]), config(name)).result()
            for name in permanent
        }
        # The control: a transient error in the same run is retried.
        control = executor.submit(job("transient", fail=["ProviderError"]), config("c")).result()
    # A job for a manager this worker does not serve: a configuration error in the worker itself.
    with DurableReflectionExecutor(durable_app.__name__ + ":manager", dsn) as other:
        stray = other.submit(_conversation("hello"), config("stray")).result()

    await run_worker_async(REFLECT, dsn, wait=False)

    jobs = _jobs(dsn)
    for name in permanent:
        assert jobs[ids[name]] == ("failed", 1), name
        assert [attempt for label, attempt in STATE.runs if label == name] == [1], name
    assert jobs[stray] == ("failed", 1)
    assert jobs[control] == ("todo", 1)  # waiting for its retry
    assert sorted(_bring_retries_forward(dsn)) == [control]
    # The reason is in the worker's log (Reverie's line for a failed reflection, procrastinate's
    # for a job that failed before it reached the reflector).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "reverie.executor")
    for name in permanent:
        assert f"{name}: {name}: scripted failure on attempt 1" in ours
    assert any("This worker serves" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)

    await run_worker_async(REFLECT, dsn, wait=False)
    jobs = _jobs(dsn)
    assert jobs[control] == ("succeeded", 2)
    assert [jobs[ids[name]] for name in permanent] == [("failed", 1)] * 3
    assert jobs[stray] == ("failed", 1)


async def test_the_latest_payload_of_a_thread_wins_across_two_submitters(dsn: str) -> None:
    first = DurableReflectionExecutor(REFLECT, dsn)
    second = DurableReflectionExecutor(REFLECT, dsn)
    try:
        # Taking turns: each submission replaces the one the other executor left waiting.
        for i in range(6):
            submitter = (first, second)[i % 2]
            submitter.submit(job(f"turns-{i}"), config("turns")).result()
        # At the same time, from two threads, round after round: whichever commits last wins,
        # and after every round one job of the thread is waiting, not two.
        submitted: list[tuple[int, str]] = []
        waiting: list[int] = []
        barrier = threading.Barrier(2, action=lambda: waiting.append(_waiting(dsn, "race")))

        def submit_many(executor: DurableReflectionExecutor, name: str) -> None:
            for i in range(RACE_ROUNDS):
                barrier.wait()  # both submit at the same moment
                label = f"race-{name}-{i}"
                submitted.append((executor.submit(job(label), config("race")).result(), label))
            barrier.wait()

        racers = [
            threading.Thread(target=submit_many, args=(executor, name))
            for executor, name in ((first, "first"), (second, "second"))
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert waiting == [0] + [1] * RACE_ROUNDS
        first.submit(job("alone"), config("alone")).result()
    finally:
        first.shutdown()
        second.shutdown()

    statuses = list(_jobs(dsn).values())
    assert statuses.count(("todo", 0)) == 3  # one waiting job per thread
    assert len(statuses) == 6 + 2 * RACE_ROUNDS + 1

    await run_worker_async(REFLECT, dsn, wait=False)

    latest_race = max(submitted)[1]
    assert sorted(label for label, _ in STATE.runs) == sorted(["turns-5", latest_race, "alone"])
    assert sorted(set(_jobs(dsn).values())) == [("cancelled", 0), ("succeeded", 1)]


async def _until(condition: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: runs {STATE.runs}")
        await asyncio.sleep(0.02)


def _finished(label: str) -> bool:
    return label in STATE.spans and STATE.spans[label][1] is not None


async def test_jobs_of_one_thread_never_run_at_the_same_time_on_two_workers(dsn: str) -> None:
    STATE.gate = asyncio.Event()
    # Each worker installs its SIGINT/SIGTERM handlers and restores the ones it found: with two
    # in one process the last one out could restore the other's, so this test restores them.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers = [asyncio.create_task(run_worker_async(REFLECT, dsn, concurrency=2)) for _ in range(2)]
    first = DurableReflectionExecutor(REFLECT, dsn)
    second = DurableReflectionExecutor(REFLECT, dsn)
    try:
        same_1 = first.submit(job("same-1", hold=True), config("same")).result()
        first.submit(job("other-1", hold=True), config("other")).result()
        await _until(lambda: {"same-1", "other-1"} <= set(STATE.spans), "both held jobs to start")

        # A newer job of the busy thread, then one of another thread: a free worker slot takes
        # the other thread's job, and would have taken the busy thread's (queued first) if it could.
        same_2 = second.submit(job("same-2"), config("same")).result()
        second.submit(job("other-2"), config("other-2")).result()
        await _until(lambda: _finished("other-2"), "a free worker to run other-2")
        assert "same-2" not in STATE.spans
        assert _jobs(dsn)[same_2] == ("todo", 0)

        STATE.gate.set()
        await _until(lambda: _jobs(dsn)[same_1][0] == "succeeded", "same-1 to finish")
        second.submit(job("other-3"), config("other-3")).result()  # more traffic wakes a worker
        await _until(lambda: _finished("same-2"), "same-2 to run once same-1 is done")
        await _until(lambda: _finished("other-3"), "other-3 to run")
    finally:
        STATE.gate.set()
        first.shutdown()
        second.shutdown()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    start_1, end_1 = STATE.spans["same-1"]
    start_2, _ = STATE.spans["same-2"]
    assert end_1 is not None and start_2 >= end_1  # one after the other
    # Jobs of other threads did run meanwhile: other-2 in the second worker (the first one's two
    # slots may both have been held), while same-1 was running.
    other_start, _ = STATE.spans["other-2"]
    assert start_1 < other_start < end_1
    assert sorted(set(_jobs(dsn).values())) == [("succeeded", 1)]
