"""What the executors cost the caller, and how many jobs they get through.

* Submit latency: time spent in ``submit`` by the caller, p50/p95/p99 (targets: < 0.2 ms in-process,
  < 5 ms durable, where the job is committed to PostgreSQL before ``submit`` returns).
* Throughput: jobs per second with a zero-latency scripted model, each job a real store-manager run.

Reverie's in-process ``ReflectionExecutor`` is measured next to LangMem's when LangMem is importable
here or in ``.bench/langmem-venv`` (see ``benchmarks/langmem_env.sh``); the durable executor when a
PostgreSQL server is reachable at ``$REVERIE_TEST_POSTGRES_URL`` (default port 55432).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import wait
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from benchmarks.common import markdown_table, quick_mode, write_results
from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.core.ports import NativeStore
from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call

ROOT = Path(__file__).resolve().parents[1]
DSN_ENV = "REVERIE_BENCH_QUEUE_DSN"
NAMESPACE = ("memories", "{langgraph_user_id}")


def _remember(request: ScriptedRequest) -> dict[str, Any]:
    return tool_call("Memory", {"content": request.text[-60:]})


def _manager(store: BaseStore | None, latency_seconds: float = 0.0) -> MemoryStoreManager:
    model = ScriptedChatModel(responder=_remember, latency_seconds=latency_seconds)
    return create_memory_store_manager(model, namespace=NAMESPACE, store=store)


def bench_manager() -> MemoryStoreManager:
    """Factory the durable workers import: memories go to PostgreSQL, next to the queue."""
    from reverie.stores.postgres import open_postgres_store

    return _manager(open_postgres_store(os.environ[DSN_ENV], pool_size=4))


def _payload(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"I went hiking near lake {i} with Fido."}]}


def _config(i: int) -> RunnableConfig:
    return {"configurable": {"thread_id": f"t{i}", "langgraph_user_id": f"u{i % 50}"}}


def _stats(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(s * 1000 for s in samples_s)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def _timed_submits(submit: Callable[[int], Any], n: int) -> tuple[list[float], list[Any]]:
    samples, results = [], []
    for i in range(n):
        start = time.perf_counter()
        results.append(submit(i))
        samples.append(time.perf_counter() - start)
    return samples, results


# ---------------------------------------------------------------------- in-process executors


MODEL_LATENCY_S = 0.05


def _in_process(executor_cls: Any, n_latency: int, n_jobs: int) -> dict[str, Any]:
    """Same manager and store for both libraries; only the executor differs."""
    store = InMemoryStore(index={"dims": 64, "embed": HashingEmbeddings(64)})
    manager = _manager(store)
    out: dict[str, Any] = {}

    executor = executor_cls(manager, store=store)
    executor.submit(_payload(-1), _config(-1)).result()  # start the background machinery
    # Caller cost while the work is still waiting (delayed), then while the background is busy.
    samples, _ = _timed_submits(
        lambda i: executor.submit(_payload(i), _config(i), after_seconds=3600), n_latency
    )
    out["submit_delayed"] = _stats(samples)
    _cancel_all(executor)

    executor = executor_cls(manager, store=store)
    start = time.perf_counter()
    samples, futures = _timed_submits(
        lambda i: executor.submit(_payload(i), _config(10_000 + i)), n_jobs
    )
    done, _ = wait(futures, timeout=600)
    elapsed = time.perf_counter() - start
    failed = sum(1 for f in done if f.exception() is not None)
    out["submit_busy"] = _stats(samples)
    out["jobs"] = n_jobs
    out["failed"] = failed
    out["jobs_per_s"] = len(done) / elapsed
    executor.shutdown(wait=True)

    # With a model that takes time, throughput depends on running threads concurrently.
    slow = _manager(store, latency_seconds=MODEL_LATENCY_S)
    executor = executor_cls(slow, store=store)
    n_slow = max(20, n_jobs // 5)
    start = time.perf_counter()
    futures = [executor.submit(_payload(i), _config(20_000 + i)) for i in range(n_slow)]
    done, _ = wait(futures, timeout=600)
    out["jobs_per_s_slow_model"] = len(done) / (time.perf_counter() - start)
    out["slow_jobs"] = n_slow
    executor.shutdown(wait=True)
    return out


def _cancel_all(executor: Any) -> None:
    try:
        executor.shutdown(wait=True, cancel_futures=True)
    except TypeError:
        executor.shutdown(wait=True)


def _reverie_in_process(n_latency: int, n_jobs: int) -> dict[str, Any]:
    from reverie.executor import ReflectionExecutor

    return _in_process(ReflectionExecutor, n_latency, n_jobs)


def _langmem_in_process(n_latency: int, n_jobs: int) -> dict[str, Any] | str:
    try:
        from langmem import ReflectionExecutor as LangMemExecutor
    except ImportError:
        return _langmem_in_venv(n_latency, n_jobs)
    return _in_process(LangMemExecutor, n_latency, n_jobs)


def _langmem_in_venv(n_latency: int, n_jobs: int) -> dict[str, Any] | str:
    python = ROOT / ".bench" / "langmem-venv" / "bin" / "python"
    if not python.exists():
        return "LangMem not importable here and no .bench/langmem-venv (benchmarks/langmem_env.sh)"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    done = subprocess.run(
        [str(python), "-m", "benchmarks.executor_bench", "--langmem", str(n_latency), str(n_jobs)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        return f"LangMem run failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- durable executor


def _durable(n_latency: int, n_jobs: int) -> dict[str, Any] | str:
    try:
        import psycopg
        from psycopg.types.json import Jsonb

        from reverie.executor.durable import DurableReflectionExecutor
        from reverie.executor.worker import run_worker_async
    except ImportError as exc:
        return f"durable mode not installed ({exc})"
    from tests.postgres.support import ADMIN_URL, database_url

    url = os.environ.get("REVERIE_BENCH_PG_URL", ADMIN_URL)
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        return f"skipped: no PostgreSQL at {url} ({str(exc).splitlines()[0]})"
    name = f"reverie_bench_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        dsn = database_url(name, url)
        os.environ[DSN_ENV] = dsn
        try:
            store = bench_manager().store  # opening it runs the migrations
            assert isinstance(store, NativeStore)
            store.close()
            factory = "benchmarks.executor_bench:bench_manager"
            out: dict[str, Any] = {}
            with DurableReflectionExecutor(factory, dsn) as executor:
                executor.submit(_payload(-1), _config(-1), after_seconds=3600)  # warm the pool
                samples, _ = _timed_submits(
                    lambda i: executor.submit(_payload(i), _config(i), after_seconds=3600),
                    n_latency,
                )
                out["submit_delayed"] = _stats(samples)
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("DELETE FROM procrastinate_jobs")
                    # The floor set by this machine and server: committing one small row.
                    conn.execute("CREATE TEMP TABLE floor (value jsonb)")
                    samples, _ = _timed_submits(
                        lambda i: conn.execute(
                            "INSERT INTO floor VALUES (%s)", (Jsonb(_payload(i)),)
                        ),
                        n_latency,
                    )
                    out["commit_floor"] = _stats(samples)
                samples, _ = _timed_submits(
                    lambda i: executor.submit(_payload(i), _config(10_000 + i)), n_jobs
                )
                out["submit_busy"] = _stats(samples)  # no worker yet: the queue is only written
            concurrency = 4
            start = time.perf_counter()
            asyncio.run(run_worker_async(factory, dsn, concurrency=concurrency, wait=False))
            elapsed = time.perf_counter() - start
            with psycopg.connect(dsn) as conn:
                rows: dict[str, int] = dict(
                    conn.execute(
                        "SELECT status, count(*) FROM procrastinate_jobs GROUP BY 1"
                    ).fetchall()
                )
            out["jobs"] = n_jobs
            out["failed"] = rows.get("failed", 0)
            out["jobs_per_s"] = rows.get("succeeded", 0) / elapsed
            out["worker"] = (
                f"1 worker process, concurrency {concurrency}, Reverie's PostgreSQL store"
            )
            out["jobs_per_s_slow_model"] = None
            return out
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------- report


def run(quick: bool) -> None:
    n_latency, n_jobs = (300, 100) if quick else (3000, 1000)
    systems: dict[str, dict[str, Any] | str] = {
        "Reverie ReflectionExecutor": _reverie_in_process(n_latency, n_jobs),
        "LangMem ReflectionExecutor": _langmem_in_process(n_latency, n_jobs),
        "Reverie DurableReflectionExecutor": _durable(n_latency, n_jobs),
    }
    rows = []
    notes = []
    for name, figures in systems.items():
        if isinstance(figures, str):
            notes.append(f"- {name}: {figures}")
            continue
        delayed, busy = figures["submit_delayed"], figures["submit_busy"]
        rows.append(
            [
                name,
                delayed["p50_ms"],
                delayed["p95_ms"],
                delayed["p99_ms"],
                busy["p50_ms"],
                busy["p99_ms"],
                figures["jobs_per_s"],
                figures["jobs_per_s_slow_model"] or "-",
                figures["failed"],
            ]
        )
    durable = systems["Reverie DurableReflectionExecutor"]
    if isinstance(durable, dict):
        floor = durable["commit_floor"]
        notes.append(
            "- Durable submit is one statement and one commit. Floor on this machine: committing "
            f"one small row into a plain table took p50 {floor['p50_ms']:.3f} / "
            f"p95 {floor['p95_ms']:.3f} / p99 {floor['p99_ms']:.3f} ms."
        )
    reverie = systems["Reverie ReflectionExecutor"]
    langmem = systems["LangMem ReflectionExecutor"]
    ratios = {}
    if isinstance(reverie, dict) and isinstance(langmem, dict):
        ratios = {
            "throughput_reverie_over_langmem": reverie["jobs_per_s"] / langmem["jobs_per_s"],
            "submit_p50_langmem_over_reverie": langmem["submit_delayed"]["p50_ms"]
            / reverie["submit_delayed"]["p50_ms"],
        }
        ratios["slow_model_throughput_reverie_over_langmem"] = (
            reverie["jobs_per_s_slow_model"] / langmem["jobs_per_s_slow_model"]
        )
        notes.append(
            f"- Throughput Reverie / LangMem: {ratios['throughput_reverie_over_langmem']:.1f}x "
            "with an instant model (CPU-bound: one interpreter does the work either way), "
            f"{ratios['slow_model_throughput_reverie_over_langmem']:.1f}x with a "
            f"{MODEL_LATENCY_S * 1000:.0f} ms model (Reverie runs threads concurrently, "
            "LangMem one job at a time)."
        )
    table = markdown_table(
        [
            "executor",
            "submit p50 ms (idle)",
            "p95 ms",
            "p99 ms",
            "submit p50 ms (busy)",
            "p99 ms (busy)",
            "jobs/s",
            f"jobs/s ({MODEL_LATENCY_S * 1000:.0f} ms model)",
            "failed",
        ],
        rows,
    )
    table += (
        f"\n\n{n_latency} submits for latency (work delayed an hour, so only the caller's cost "
        f"shows), {n_jobs} jobs on distinct threads for throughput (busy = submitted while the "
        "background works). Zero-latency scripted model; each job is a full store-manager run.\n"
        "Targets: submit < 0.2 ms in-process, < 5 ms durable (job committed before return).\n"
    )
    if notes:
        table += "\n" + "\n".join(notes) + "\n"
    write_results(
        "executor_bench",
        {"quick": quick, "n_latency": n_latency, "n_jobs": n_jobs, "systems": systems, **ratios},
        table,
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--langmem":
        from langmem import ReflectionExecutor as _LangMem

        print(json.dumps(_in_process(_LangMem, int(sys.argv[2]), int(sys.argv[3]))))
    else:
        run(quick_mode() or "--quick" in sys.argv)
