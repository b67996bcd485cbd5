"""``reverie forget --namespace NS --app MANAGER``: the manager's durable jobs that would write to NS
after the erasure are cancelled first, and nothing is erased while one of them is running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig
from typer.testing import CliRunner, Result

from reverie.cli import queued_jobs
from reverie.cli.app import app
from reverie.executor.durable import DurableReflectionExecutor
from reverie.executor.worker import run_worker_async
from tests.executor import durable_app
from tests.executor.test_durable import MANAGER, config, facts, memories
from tests.interfaces.test_cli import cli, one_line_error, write_json
from tests.postgres.support import fresh_database


@pytest.fixture
def dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database() as url:
        monkeypatch.setenv(durable_app.DSN_ENV, url)
        durable_app.open_store(url).close()  # the memory tables, before any worker
        yield url


def forget(dsn: str, namespace: str, *more: str) -> Result:
    """``reverie --store DSN forget -n NAMESPACE --yes --app MANAGER`` (the queue: the store's)."""
    env = {"REVERIE_EMBEDDINGS": "hashing", "REVERIE_QUEUE_URL": None, "REVERIE_STORE": None}
    args = ["--store", dsn, "forget", "-n", namespace, "--yes", "--app", MANAGER, *more]
    return CliRunner().invoke(app, args, env=env)


def statuses(dsn: str, *job_ids: int) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows: dict[int, str] = dict(
            conn.execute("SELECT id, status FROM procrastinate_jobs").fetchall()
        )
    return [rows[job_id] for job_id in job_ids]


async def test_forget_cancels_the_users_queued_jobs_so_none_writes_the_memories_back(
    dsn: str,
) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        executor.submit(facts(1, 0), config(1))
        await run_worker_async(MANAGER, dsn, wait=False)
        assert memories(dsn, 1) == ["fact t1 0"]
        # Queued before the erasure, run after it: what would bring u1's memories back.
        later = executor.submit(facts(1, 1), config(1)).result()
        user_1b: RunnableConfig = {"configurable": {"thread_id": "t1b", "langgraph_user_id": "u1"}}
        other_thread = executor.submit(facts(1, 0), user_1b).result()
        other_user = executor.submit(facts(2, 0), config(2)).result()

    done = forget(dsn, "memories/u1")

    assert done.exit_code == 0, done.output
    out = " ".join(done.stdout.split())
    assert f"Cancelled 2 waiting jobs of {MANAGER} that would write to memories/u1." in out
    assert "Erased memories/u1" in out
    await run_worker_async(MANAGER, dsn, wait=False)
    assert memories(dsn, 1) == []
    assert memories(dsn, 2) == ["fact t2 0"]  # another user's job ran as queued
    assert statuses(dsn, later, other_thread, other_user) == [
        "cancelled",
        "cancelled",
        "succeeded",
    ]


async def test_forget_refuses_while_a_job_of_the_user_is_running_and_erases_nothing(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queued_jobs, "RUNNING_WAIT_SECONDS", 0.3)
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        executor.submit(facts(1, 0), config(1))
        await run_worker_async(MANAGER, dsn, wait=False)
        running = executor.submit(facts(1, 1), config(1)).result()
    with psycopg.connect(dsn) as conn:  # a worker has taken it and is running it
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (running,))

    refused = forget(dsn, "memories/u1")

    error = one_line_error(refused)
    assert "1 job of tests.executor.durable_app:manager writing to memories/u1 still" in error
    assert "nothing was erased" in error and "Run forget again" in error
    assert memories(dsn, 1) == ["fact t1 0"]

    with psycopg.connect(dsn) as conn:  # the worker finishes it
        conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s", (running,))
    again = forget(dsn, "memories/u1")
    assert again.exit_code == 0, again.output
    assert "Cancelled 0 waiting jobs" in again.stdout
    assert memories(dsn, 1) == []


async def test_forget_refuses_a_namespace_every_job_of_the_manager_writes_to(dsn: str) -> None:
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        executor.submit(facts(1, 0), config(1))
        await run_worker_async(MANAGER, dsn, wait=False)
        waiting = executor.submit(facts(1, 1), config(1)).result()

    refused = forget(dsn, "memories", "--descendants")

    assert "Every job of tests.executor.durable_app:manager writes to memories" in (
        one_line_error(refused)
    )
    assert memories(dsn, 1) == ["fact t1 0"]
    assert statuses(dsn, waiting) == ["todo"]


def test_forget_app_needs_a_namespace_and_a_queue_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REVERIE_QUEUE_URL", raising=False)
    runner, store = CliRunner(), tmp_path / "m.db"
    ok_file = write_json(tmp_path / "c.json", [{"role": "user", "content": "I live in Oslo."}])
    assert cli(runner, store, "ingest", str(ok_file)).exit_code == 0
    with_key = cli(runner, store, "forget", "some-key", "--app", MANAGER)
    assert "--app cancels the jobs of a whole namespace" in one_line_error(with_key)
    no_queue = cli(runner, store, "forget", "-n", "memories/default", "--yes", "--app", MANAGER)
    assert "No queue database" in one_line_error(no_queue)
    assert "Oslo" in cli(runner, store, "list").stdout  # nothing was erased
