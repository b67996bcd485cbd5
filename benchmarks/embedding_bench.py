"""Throughput and query latency of the bundled offline embedder (LocalMiniLMEmbeddings).

Side by side in one run: numpy's BLAS limited to 1 thread and to 2 threads (each measured in its
own subprocess, since the thread count is fixed when numpy loads), and within each the batched
path (texts sorted by length, batches of 32) against one call per text, single-query latency
and the cold-load time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import markdown_table, percentiles, quick_mode, write_results
from benchmarks.embedding_texts import short_sentences

TARGET_SENTENCES_PER_S = 300.0
BLAS_THREADS = ("1", "2")
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure(quick: bool) -> dict[str, Any]:
    """Measure in this process, with whatever BLAS threading it was started with."""
    from reverie.embeddings import LocalMiniLMEmbeddings
    from reverie.embeddings.weights import load_weights

    sentences = short_sentences(200 if quick else 1000)
    one_by_one = sentences[: 50 if quick else 200]
    queries = short_sentences(30 if quick else 200, seed=99)

    load_weights.cache_clear()
    start = time.perf_counter()
    embedder = LocalMiniLMEmbeddings()
    embedder.embed_query("warm up")
    cold_load_ms = (time.perf_counter() - start) * 1000

    tokens = [len(e.ids) for e in embedder._loaded().tokenizer.encode_batch(sentences)]

    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = embedder.embed_documents(sentences)
    batched = _rate(len(sentences), time.perf_counter() - start)
    # CPU seconds (all threads) do not grow when other processes take the cores, so this rate
    # shows what the code achieves on an otherwise idle machine, per busy core.
    batched_per_cpu_s = _rate(len(sentences), time.process_time() - cpu_start)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    start = time.perf_counter()
    for text in one_by_one:
        embedder.embed_documents([text])
    single = _rate(len(one_by_one), time.perf_counter() - start)

    latencies = []
    for query in queries:
        start = time.perf_counter()
        embedder.embed_query(query)
        latencies.append((time.perf_counter() - start) * 1000)

    return {
        "sentences": len(sentences),
        "mean_words_per_sentence": float(np.mean([len(s.split()) for s in sentences])),
        "mean_tokens_per_sentence": float(np.mean(tokens)),
        "batched_sentences_per_s": batched,
        "batched_sentences_per_cpu_s": batched_per_cpu_s,
        "one_at_a_time_sentences_per_s": single,
        "query_ms": percentiles(latencies),
        "cold_load_ms": cold_load_ms,
    }


def _measure_in_subprocess(quick: bool, threads: str) -> dict[str, Any]:
    env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, threads)}
    args = [sys.executable, "-m", "benchmarks.embedding_bench", "--measure"]
    args += ["--quick"] if quick else []
    completed = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> None:
    runs = {threads: _measure_in_subprocess(quick, threads) for threads in BLAS_THREADS}
    first = runs[BLAS_THREADS[0]]
    rows: list[list[Any]] = [
        [
            f"BLAS threads {threads}",
            r["batched_sentences_per_s"],
            r["batched_sentences_per_cpu_s"],
            r["one_at_a_time_sentences_per_s"],
            f"{r['batched_sentences_per_s'] / r['one_at_a_time_sentences_per_s']:.2f}x",
            f"{r['batched_sentences_per_s'] / TARGET_SENTENCES_PER_S:.2f}x",
            r["query_ms"]["p50"],
            r["query_ms"]["p95"],
            r["cold_load_ms"],
        ]
        for threads, r in runs.items()
    ]
    table = markdown_table(
        [
            "setting",
            "batched sent/s",
            "batched sent per CPU-s",
            "one-at-a-time sent/s",
            "batched / one-at-a-time",
            f"batched / {TARGET_SENTENCES_PER_S:.0f} target",
            "query p50 ms",
            "query p95 ms",
            "cold load ms",
        ],
        rows,
    )
    table += (
        f"\n\n{first['sentences']} short sentences, {first['mean_words_per_sentence']:.1f} words /"
        f" {first['mean_tokens_per_sentence']:.1f} tokens on average."
    )
    write_results(
        "embeddings",
        {"quick": quick, "target_sentences_per_s": TARGET_SENTENCES_PER_S, "runs": runs},
        table,
    )


if __name__ == "__main__":
    quick = quick_mode() or "--quick" in sys.argv
    if "--measure" in sys.argv:
        print(json.dumps(measure(quick)))
    else:
        run(quick)
