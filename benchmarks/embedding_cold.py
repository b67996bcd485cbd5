"""A fresh process's first query with the bundled embedder: time and resident memory.

What a one-shot command (``reverie search``) or a new worker pays before its first search:
importing the embedder, reading the weights, preparing the query engine and embedding one
question, timed from before the import. Each row is its own subprocess:

- onnxruntime, graph built: an empty graph cache, so the process builds and keeps the graph;
- onnxruntime, graph kept: the graph that process kept (median of three processes);
- numpy queries: ``query_engine="numpy"`` (median of three).

Memory: the process's resident set after the first query and its peak (``/proc/self/status``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import markdown_table

QUESTION = "When did Caroline go to the LGBTQ support group?"
KEPT_RUNS = 3


def _first_query(engine: str) -> dict[str, float]:
    """Run in the subprocess: the first query's cost, from before the embedder's import."""
    start = time.perf_counter()
    from reverie.embeddings import LocalMiniLMEmbeddings

    embedder = LocalMiniLMEmbeddings(query_engine=engine)  # type: ignore[arg-type]
    embedder.embed_query(QUESTION)
    seconds = time.perf_counter() - start
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {
        "first_query_ms": seconds * 1000,
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
        "peak_mb": int(status["VmHWM"].split()[0]) / 1024,
        "engine": embedder.query_engine,  # type: ignore[dict-item]
    }


def _in_subprocess(engine: str, cache: Path) -> dict[str, Any]:
    env = {**os.environ, "REVERIE_CACHE_DIR": str(cache), "OPENBLAS_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "benchmarks.embedding_cold", "--first-query", engine]
    completed = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return found


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("first_query_ms", "rss_mb", "peak_mb")
    return {**runs[0], **{k: statistics.median(r[k] for r in runs) for k in keys}}


def measure() -> dict[str, Any]:
    """Rows by name, plus the kept graph's size; rows for onnxruntime only where it ran."""
    if not Path("/proc/self/status").exists():
        return {"skipped": "needs /proc (Linux) to read resident memory"}
    with tempfile.TemporaryDirectory(prefix="reverie-graph-cache-") as folder:
        cache = Path(folder)
        rows: dict[str, dict[str, Any]] = {}
        built = _in_subprocess("auto", cache)
        if built["engine"] == "onnxruntime":
            rows["onnxruntime, graph built"] = built
            kept = [_in_subprocess("auto", cache) for _ in range(KEPT_RUNS)]
            rows["onnxruntime, graph kept"] = _median(kept)
        numpy_runs = [_in_subprocess("numpy", cache) for _ in range(KEPT_RUNS)]
        rows["numpy queries"] = _median(numpy_runs)
        graphs = list(cache.glob("*.onnx"))
        graph_mb = sum(g.stat().st_size for g in graphs) / 2**20 if graphs else None
    return {"rows": rows, "graph_mb": graph_mb}


def table(cold: dict[str, Any]) -> str:
    if "rows" not in cold:
        return f"First query in a fresh process: {cold.get('skipped', 'not measured')}."
    rows = [
        [name, r["first_query_ms"], r["rss_mb"], r["peak_mb"]] for name, r in cold["rows"].items()
    ]
    size = cold["graph_mb"]
    kept = f"\n\nThe kept graph file: {size:.1f} MB." if size is not None else ""
    return (
        "First query in a fresh process (import, weights, query engine, one question; one "
        "thread):\n\n"
        + markdown_table(["query path", "first query ms", "resident MB", "peak MB"], rows)
        + kept
    )


if __name__ == "__main__":
    print(json.dumps(_first_query(sys.argv[sys.argv.index("--first-query") + 1])))
