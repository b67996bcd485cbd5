"""Run every benchmark in one process and write a summary.

``python -m benchmarks`` (or ``make bench``); ``--quick`` (or ``REVERIE_BENCH_QUICK=1``) for a fast
pass; ``python -m benchmarks overhead store`` runs only the named ones.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from benchmarks.common import RESULTS, quick_mode

# Module name -> what it measures. Order: cheapest first.
BENCHMARKS = {
    "overhead": "library overhead per ainvoke",
    "cli_bench": "reverie command wall time: empty vs 10k-memory store, start-up",
    "embedding_bench": "offline MiniLM embedder: sentences/s and query latency",
    "executor_bench": "submit latency and throughput of the executors",
    "scaleout_bench": "durable-queue throughput with 1, 2 and 4 worker processes",
    "store_bench": "embedded store vs InMemoryStore vs SqliteStore",
    "time_bench": "as_of search against current-state search at 100k memories",
    "postgres_bench": "PostgreSQL + pgvector search latency",
    "locomo_retrieval": "retrieval quality on LoCoMo",
    "replay_locomo": "tokens per conversation vs LangMem",
}


def main(argv: list[str]) -> int:
    quick = quick_mode() or "--quick" in argv
    wanted = [a for a in argv if not a.startswith("-")] or list(BENCHMARKS)
    summary = []
    began = time.perf_counter()
    for name in wanted:
        if name not in BENCHMARKS:
            print(f"Unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}.")
            return 2
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            summary.append((name, "not available", str(exc)))
            continue
        start = time.perf_counter()
        try:
            module.run(quick)
            summary.append((name, "ok", f"{time.perf_counter() - start:.1f} s"))
        except Exception as exc:  # one broken benchmark must not hide the others' results
            traceback.print_exc()
            summary.append((name, "failed", f"{type(exc).__name__}: {exc}"))
    lines = ["| benchmark | status | detail |", "|---|---|---|"]
    lines += [f"| {n} ({BENCHMARKS.get(n, '')}) | {s} | {d} |" for n, s, d in summary]
    lines.append(f"| all | | {(time.perf_counter() - began) / 60:.1f} min |")
    if wanted == list(BENCHMARKS):  # a partial run must not replace the full run's summary
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "summary.md").write_text("# Benchmark run\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if any(s == "failed" for _, s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
