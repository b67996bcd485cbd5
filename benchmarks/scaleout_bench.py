"""Does adding workers add throughput? The durable queue with 1, 2 and 4 worker processes.

Each job is a full memory-manager run for a user of its own (search, model, commit) on the
PostgreSQL store. The model is scripted and instant; the embedder *sleeps* 20 ms per call, as a
hosted embedder waits on the network, so the machine's two cores do not cap the result: what is
measured is whether commits for different users wait on each other. (Before per-namespace
commits, one database-wide lock held across the embedding kept any number of workers near the
throughput of one.) Target: 4 workers reach at least 2.5x the jobs/s of one.

Workers are real ``reverie worker`` processes started before the jobs are queued, so process
start-up is not counted; the clock runs from the first submit until the last job succeeded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from benchmarks.common import markdown_table, quick_mode, write_results
from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.core.ports import NativeStore
from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call

ROOT = Path(__file__).resolve().parents[1]
DSN_ENV = "REVERIE_BENCH_SCALEOUT_DSN"
FACTORY = "benchmarks.scaleout_bench:bench_manager"
EMBED_SLEEP_S = 0.020
WORKER_COUNTS = (1, 2, 4)
TARGET_RATIO = 2.5


class SleepingEmbeddings(Embeddings):
    """Deterministic vectors after a 20 ms wait per call, like a hosted embedder."""

    def __init__(self) -> None:
        self.inner = HashingEmbeddings(64)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        time.sleep(EMBED_SLEEP_S)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        time.sleep(EMBED_SLEEP_S)
        return self.inner.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        await asyncio.sleep(EMBED_SLEEP_S)
        return self.inner.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        await asyncio.sleep(EMBED_SLEEP_S)
        return self.inner.embed_query(text)


def _remember(request: ScriptedRequest) -> dict[str, Any]:
    return tool_call("Memory", {"content": request.text[-80:]})


def bench_manager() -> MemoryStoreManager:
    """The factory every worker process imports."""
    from reverie.stores.postgres import open_postgres_store

    store = open_postgres_store(
        os.environ[DSN_ENV], index={"dims": 64, "embed": SleepingEmbeddings()}, pool_size=4
    )
    return create_memory_store_manager(
        ScriptedChatModel(responder=_remember),
        namespace=("memories", "{langgraph_user_id}"),
        store=store,
    )


def _start_workers(count: int, dsn: str, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, **{DSN_ENV: dsn, "OPENBLAS_NUM_THREADS": "1"})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "reverie.cli.app", "worker", "--app", FACTORY, "--dsn", dsn]
    workers = []
    for n in range(count):
        # Logs go to a file: a pipe nobody reads fills up and stops a worker mid-run.
        with open(logs / f"worker-{count}-{n}.log", "wb") as log:
            workers.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
            )
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _statuses(dsn: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")
        return {str(status): int(n) for status, n in rows.fetchall()}


def _wait_for_workers(
    dsn: str, count: int, workers: list[subprocess.Popen[bytes]], logs: Path
) -> None:
    import psycopg

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for worker in workers:
            if worker.poll() is not None:
                error = "\n".join(p.read_text()[-2000:] for p in logs.glob("worker-*.log"))
                raise RuntimeError(f"a worker exited at start: {error}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        if row is not None and row[0] >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} workers did not register within 120 s")


def _round(dsn: str, workers_count: int, jobs: int, offset: int, logs: Path) -> dict[str, Any]:
    from reverie.executor.durable import DurableReflectionExecutor

    workers = _start_workers(workers_count, dsn, logs)
    try:
        _wait_for_workers(dsn, workers_count, workers, logs)
        before = _statuses(dsn).get("succeeded", 0)
        with DurableReflectionExecutor(FACTORY, dsn) as executor:
            start = time.perf_counter()
            for i in range(offset, offset + jobs):
                executor.submit(
                    {"messages": [{"role": "user", "content": f"I hiked to lake {i} with Fido."}]},
                    {"configurable": {"langgraph_user_id": f"user{i}", "thread_id": f"t{i}"}},
                )
            deadline = time.monotonic() + 600
            while True:
                statuses = _statuses(dsn)
                done = statuses.get("succeeded", 0) - before
                if done + statuses.get("failed", 0) >= jobs or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
    finally:
        _stop(workers)
    return {
        "workers": workers_count,
        "jobs": jobs,
        "succeeded": done,
        "failed": statuses.get("failed", 0),
        "seconds": elapsed,
        "jobs_per_s": done / elapsed,
    }


def run(quick: bool) -> None:
    import psycopg

    from reverie.executor.queue import ensure_schema
    from tests.postgres.support import ADMIN_URL, database_url

    url = os.environ.get("REVERIE_BENCH_PG_URL", ADMIN_URL)
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        write_results(
            "scaleout_bench",
            {"skipped": str(exc)},
            f"Skipped: no PostgreSQL at {url}. Run `bash scripts/postgres.sh start` (root).",
        )
        return
    jobs = 60 if quick else 300
    name = f"reverie_scaleout_{os.getpid()}"
    rounds: list[dict[str, Any]] = []
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        dsn = database_url(name, url)
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            ensure_schema(dsn)
            os.environ[DSN_ENV] = dsn
            store = bench_manager().store  # opening it runs the migrations, once
            assert isinstance(store, NativeStore)
            store.close()
            with tempfile.TemporaryDirectory() as logs:
                for index, count in enumerate(WORKER_COUNTS):
                    rounds.append(_round(dsn, count, jobs, index * jobs, Path(logs)))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    one = rounds[0]["jobs_per_s"]
    rows = []
    for r in rounds:
        r["speedup"] = r["jobs_per_s"] / one if one else float("nan")
        rows.append(
            [r["workers"], r["jobs"], r["failed"], r["seconds"], r["jobs_per_s"], r["speedup"]]
        )
    four = next(r for r in rounds if r["workers"] == 4)
    met = four["speedup"] >= TARGET_RATIO
    table = markdown_table(
        ["worker processes", "jobs", "failed", "seconds", "jobs/s", "x one worker"], rows
    )
    table += (
        f"\n\nEach job: one memory-manager run for a distinct user on the PostgreSQL store, "
        f"scripted instant model, embedder sleeping {EMBED_SLEEP_S * 1000:.0f} ms per call "
        "(two calls a job: the search query and the new memory). Workers started before the "
        "jobs were queued; the clock runs from the first submit to the last success.\n"
        f"Target: 4 workers >= {TARGET_RATIO}x one worker: "
        f"{'met' if met else 'NOT met'} ({four['speedup']:.2f}x).\n"
    )
    write_results(
        "scaleout_bench",
        {"quick": quick, "rounds": rounds, "target_ratio": TARGET_RATIO, "target_met": met},
        table,
    )


if __name__ == "__main__":
    run(quick_mode() or "--quick" in sys.argv)
