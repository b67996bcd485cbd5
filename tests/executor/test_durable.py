"""The durable queue on PostgreSQL: persisted submits, debounce, workers, crash recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from reverie import create_memory_store_manager
from reverie.core.errors import InputError, LimitError
from reverie.core.limits import Limits
from reverie.executor.durable import CancelledJobs, DurableReflectionExecutor
from reverie.executor.worker import run_worker_async
from reverie.ledger.thread_state import state_namespace
from reverie.testing import ScriptedChatModel
from tests.executor import durable_app
from tests.postgres.support import fresh_database

REPO = Path(__file__).resolve().parents[2]
MANAGER = "tests.executor.durable_app:manager"


@pytest.fixture
def dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database() as url:
        monkeypatch.setenv(durable_app.DSN_ENV, url)
        durable_app.open_store(url).close()  # create the memory tables once, up front
        yield url


def facts(thread: int, upto: int) -> dict:
    """The conversation of one thread so far: one user line per fact (cumulative payloads)."""
    messages = []
    for i in range(upto + 1):
        messages += [HumanMessage(f"fact t{thread} {i}"), AIMessage("noted")]
    return {"messages": messages}


def config(thread: int) -> RunnableConfig:
    return {"configurable": {"thread_id": f"t{thread}", "langgraph_user_id": f"u{thread}"}}


def memories(dsn: str, thread: int) -> list[str]:
    store = durable_app.open_store(dsn)
    try:
        items = store.search(("memories", f"u{thread}"), limit=1000)
        return sorted(
            i.value["content"]["content"]
            for i in items
            if i.namespace == ("memories", f"u{thread}")
        )
    finally:
        store.close()


def job_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT status, count(*) FROM procrastinate_jobs GROUP BY 1").fetchall()
    return {status: count for status, count in rows}


def test_submit_persists_and_a_newer_payload_replaces_the_waiting_job(dsn: str) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        ids = [executor.submit(facts(1, i), config(1), after_seconds=60).result() for i in range(5)]
        other = executor.submit(facts(2, 0), config(2), after_seconds=60).result()
    assert len(set(ids)) == 5
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id, status, args FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
    status = {row[0]: row[1] for row in rows}
    assert [status[i] for i in ids] == ["cancelled"] * 4 + ["todo"]
    assert status[other] == "todo"
    latest = next(row[2] for row in rows if row[0] == ids[-1])
    assert "fact t1 4" in str(latest["payload"])
    assert latest["thread_id"] == "t1"
    assert latest["config"]["configurable"]["langgraph_user_id"] == "u1"


async def test_a_worker_processes_submitted_jobs(dsn: str) -> None:
    executor = DurableReflectionExecutor(MANAGER, dsn)
    for thread in range(3):
        for upto in range(3):
            await executor.asubmit(facts(thread, upto), config(thread))
    executor.shutdown()
    await run_worker_async(MANAGER, dsn, wait=False, concurrency=2)
    for thread in range(3):
        assert memories(dsn, thread) == [f"fact t{thread} {i}" for i in range(3)]
    assert job_counts(dsn).get("todo", 0) == 0


async def test_applying_a_job_twice_writes_the_same_memories(dsn: str) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        job_id = executor.submit(facts(7, 2), config(7)).result()
    await run_worker_async(MANAGER, dsn, wait=False)
    first = durable_app.open_store(dsn)
    keys = sorted(i.key for i in first.search(("memories", "u7"), limit=100))
    # Forget which messages were processed and run the very same job again.
    for item in first.search(state_namespace(("memories", "u7")), limit=100):
        first.delete(item.namespace, item.key)
    first.close()
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'todo' WHERE id = %s", (job_id,))
    await run_worker_async(MANAGER, dsn, wait=False)

    again = durable_app.open_store(dsn)
    assert sorted(i.key for i in again.search(("memories", "u7"), limit=100)) == keys
    again.close()
    assert memories(dsn, 7) == ["fact t7 0", "fact t7 1", "fact t7 2"]


def _start_worker(
    dsn: str, tmp_path: Path, name: str, hang_on_call: int | None
) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}:{REPO}",
        durable_app.DSN_ENV: dsn,
        "REVERIE_TEST_MARKER": str(tmp_path / f"{name}.hung"),
    }
    if hang_on_call is not None:
        env["REVERIE_TEST_HANG_ON_CALL"] = str(hang_on_call)
    code = (
        "from reverie.executor.worker import run_worker\n"
        f"run_worker({MANAGER!r}, {dsn!r}, concurrency=2, heartbeat_seconds=0.5,"
        " stalled_after_seconds=2.0)\n"
    )
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )


def _wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_workers_one_killed_mid_job_every_memory_written_exactly_once(
    dsn: str, tmp_path: Path
) -> None:
    threads, per_thread = 20, 10
    executor = DurableReflectionExecutor(MANAGER, dsn)  # installs the queue schema
    doomed = _start_worker(dsn, tmp_path, "doomed", hang_on_call=3)
    survivor = _start_worker(dsn, tmp_path, "survivor", hang_on_call=None)
    try:

        def workers_up() -> bool:
            with psycopg.connect(dsn) as conn:
                row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            return row is not None and row[0] == 2

        _wait_for(workers_up, 30, "both workers to register")
        for upto in range(per_thread):
            for thread in range(threads):
                executor.submit(facts(thread, upto), config(thread))
            time.sleep(0.05)
        executor.shutdown()

        marker = tmp_path / "doomed.hung"
        _wait_for(marker.exists, 30, "the doomed worker to be in the middle of a job")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)

        def queue_drained() -> bool:
            counts = job_counts(dsn)
            return counts.get("todo", 0) == 0 and counts.get("doing", 0) == 0

        _wait_for(queue_drained, 40, "the surviving worker to finish every job")
        assert survivor.poll() is None, (tmp_path / "survivor.log").read_text()
        counts = job_counts(dsn)
        assert counts.get("failed", 0) == 0, (tmp_path / "survivor.log").read_text()
        assert counts["succeeded"] + counts.get("cancelled", 0) == threads * per_thread
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE attempts > 0 AND status = 'succeeded'"
            ).fetchone()
        assert row is not None and row[0] >= 1  # the killed worker's job ran again elsewhere
        assert "Requeued reflection job" in (tmp_path / "survivor.log").read_text()
        for thread in range(threads):
            assert memories(dsn, thread) == sorted(
                f"fact t{thread} {i}" for i in range(per_thread)
            ), f"thread {thread}"
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_reverie_worker_command_processes_jobs_and_stops_on_sigterm(
    dsn: str, tmp_path: Path
) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        executor.submit(facts(3, 1), config(3))
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}", durable_app.DSN_ENV: dsn}
    command = [sys.executable, "-c", "from reverie.cli.app import main; main()"]
    log = (tmp_path / "cli.log").open("w")
    worker = subprocess.Popen(
        [*command, "worker", "--app", MANAGER, "--dsn", dsn],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )

    def processed() -> bool:
        if worker.poll() is not None:
            raise AssertionError("worker exited:\n" + (tmp_path / "cli.log").read_text())
        return memories(dsn, 3) == ["fact t3 0", "fact t3 1"]

    try:
        _wait_for(processed, 30, "the job's memories")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(20)
    assert code == 0, (tmp_path / "cli.log").read_text()


def test_submit_inside_an_entrypoint_stores_the_runs_settings(dsn: str) -> None:
    from langgraph.func import entrypoint
    from langgraph.store.memory import InMemoryStore

    executor = DurableReflectionExecutor(MANAGER, dsn)

    @entrypoint(store=InMemoryStore())
    def chat(message: str) -> int:
        return executor.submit({"messages": [{"role": "user", "content": message}]}).result()

    job_id = chat.invoke("hello", {"configurable": {"thread_id": "9", "langgraph_user_id": "u9"}})
    executor.shutdown()
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT lock, args FROM procrastinate_jobs WHERE id = %s", (job_id,))
        found = row.fetchone()
        assert found is not None
        lock, args = found
    assert lock.startswith(f"reverie:{MANAGER}:9:")  # the thread's lock, of this user
    assert args["thread_id"] == "9"
    assert args["config"]["configurable"]["langgraph_user_id"] == "u9"
    assert not any(key.startswith("__") for key in args["config"]["configurable"])


async def test_workers_wait_for_the_delay_of_a_job(dsn: str) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        executor.submit(facts(4, 0), config(4), after_seconds=600)
        executor.submit(facts(5, 0), config(5))
    await run_worker_async(MANAGER, dsn, wait=False)
    assert memories(dsn, 4) == []
    assert memories(dsn, 5) == ["fact t5 0"]
    assert job_counts(dsn) == {"todo": 1, "succeeded": 1}


def _set_status(dsn: str, job_id: int, status: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job_id))


async def test_cancel_pending_stops_a_users_queued_jobs_before_an_erasure(dsn: str) -> None:
    user_1b: RunnableConfig = {"configurable": {"thread_id": "t1b", "langgraph_user_id": "u1"}}
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        waiting = executor.submit(facts(1, 0), config(1)).result()
        taken = executor.submit(facts(1, 1), user_1b).result()
        other = executor.submit(facts(2, 0), config(2)).result()
        _set_status(dsn, taken, "doing")  # a worker took this one and is running it
        found = executor.cancel_pending({"langgraph_user_id": "u1"}, wait=0.3)
        assert found == CancelledJobs(cancelled=1, running=1)
        # The running job ends a moment later: a longer wait sees it finish.
        done = threading.Timer(0.5, _set_status, (dsn, taken, "succeeded"))
        done.start()
        assert await executor.acancel_pending({"langgraph_user_id": "u1"}, wait=10) == (
            CancelledJobs(cancelled=0, running=0)
        )
        done.join()
        with pytest.raises(InputError, match="every job"):
            executor.cancel_pending({})
    await run_worker_async(MANAGER, dsn, wait=False)
    assert memories(dsn, 1) == []  # nothing of u1 comes back after it was erased
    assert memories(dsn, 2) == ["fact t2 0"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, status FROM procrastinate_jobs").fetchall()
    status: dict[int, str] = dict(rows)
    assert (status[waiting], status[other]) == ("cancelled", "succeeded")


def _job_rows(dsn: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT id, status FROM procrastinate_jobs ORDER BY id").fetchall()


def _stored_items(dsn: str) -> list[tuple[tuple[str, ...], str, dict]]:
    store = durable_app.open_store(dsn)
    try:
        return sorted((i.namespace, i.key, i.value) for i in store.search((), limit=1000))
    finally:
        store.close()


async def test_a_job_over_max_payload_bytes_is_refused_before_anything_is_enqueued(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = durable_app.open_store(dsn)
    store.put(("memories", "u1"), "earlier", {"content": "stored before"})
    store.close()
    conversation = facts(1, 40)
    # The job's exact stored size (its idempotency key is random but always 32 hex digits).
    probe = DurableReflectionExecutor(MANAGER, dsn, limits=Limits(max_payload_bytes=1))
    with probe, pytest.raises(LimitError) as probed:
        probe.submit(conversation, config(1))
    size = probed.value.size
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        waiting = executor.submit(facts(1, 0), config(1), after_seconds=60).result()
    jobs_before, items_before = _job_rows(dsn), _stored_items(dsn)

    monkeypatch.setenv("REVERIE_MAX_PAYLOAD_BYTES", str(size - 1))
    with DurableReflectionExecutor(MANAGER, dsn, limits=Limits.from_env()) as executor:
        with pytest.raises(LimitError) as caught:
            executor.submit(conversation, config(1), after_seconds=60)
        with pytest.raises(LimitError):
            await executor.asubmit(conversation, config(1), after_seconds=60)
    assert (caught.value.limit_name, caught.value.limit, caught.value.size) == (
        "max_payload_bytes",
        size - 1,
        size,
    )
    assert "Limits.max_payload_bytes" in str(caught.value)
    assert "REVERIE_MAX_PAYLOAD_BYTES" in str(caught.value)
    assert "Nothing was enqueued" in str(caught.value)
    # No job added, and the thread's waiting job was not replaced by the refused one.
    assert _job_rows(dsn) == jobs_before == [(waiting, "todo")]
    assert _stored_items(dsn) == items_before

    with DurableReflectionExecutor(MANAGER, dsn, limits=Limits(max_payload_bytes=size)) as at_limit:
        accepted = at_limit.submit(conversation, config(1), after_seconds=60).result()
    with DurableReflectionExecutor(
        MANAGER, dsn, limits=Limits(max_payload_bytes=size + 1)
    ) as under_limit:
        accepted_async = (await under_limit.asubmit(conversation, config(2))).result()
    assert _job_rows(dsn) == [
        (waiting, "cancelled"),
        (accepted, "todo"),
        (accepted_async, "todo"),
    ]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT args FROM procrastinate_jobs WHERE id = %s", (accepted,))
        found = row.fetchone()
    assert found is not None and "fact t1 40" in str(found[0]["payload"])


def shared_thread(user: int, **more: str) -> RunnableConfig:
    """User ``u{user}`` on thread "1", the id every user of a tutorial-style app has."""
    return {"configurable": {"thread_id": "1", "langgraph_user_id": f"u{user}", **more}}


def statuses(dsn: str, *job_ids: int) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows: dict[int, str] = dict(conn.execute("SELECT id, status FROM procrastinate_jobs"))
    return [rows[job_id] for job_id in job_ids]


async def test_two_users_with_the_same_thread_id_both_get_their_memories(dsn: str) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        first = executor.submit(facts(1, 0), shared_thread(1), after_seconds=0.5).result()
        latest = executor.submit(facts(1, 1), shared_thread(1), after_seconds=0.5).result()
        other = executor.submit(facts(2, 0), shared_thread(2), after_seconds=0.5).result()
    # The user's own newer payload replaces their waiting job; the other user's job stays.
    assert statuses(dsn, first, latest, other) == ["cancelled", "todo", "todo"]
    await asyncio.sleep(0.6)  # the delay
    await run_worker_async(MANAGER, dsn, wait=False)
    assert memories(dsn, 1) == ["fact t1 0", "fact t1 1"]
    assert memories(dsn, 2) == ["fact t2 0"]


def test_given_the_manager_jobs_debounce_per_namespace_and_thread(dsn: str) -> None:
    # The manager (for its namespace template) makes settings that do not choose the namespace
    # irrelevant; without it, any setting that differs keeps jobs apart (never two users).
    scope = create_memory_store_manager(ScriptedChatModel(), namespace=durable_app.NAMESPACE)
    with DurableReflectionExecutor(MANAGER, dsn, reflector=scope) as executor:
        ids = [
            executor.submit(facts(1, 0), shared_thread(1, tone="warm")).result(),
            executor.submit(facts(1, 1), shared_thread(1, tone="dry")).result(),
            executor.submit(facts(2, 0), shared_thread(2, tone="dry")).result(),
        ]
    assert statuses(dsn, *ids) == ["cancelled", "todo", "todo"]
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        apart = [
            executor.submit(facts(3, 0), shared_thread(3, tone="warm")).result(),
            executor.submit(facts(3, 1), shared_thread(3, tone="dry")).result(),
        ]
    assert statuses(dsn, *apart) == ["todo", "todo"]
