"""Throughput, query latency and agreement of the bundled offline embedder, before and now.

Side by side in one run, on the same texts:

- ``before``: the encoder as it was (float32, batches of 32; ``benchmarks.embedding_baseline``);
- ``float32``: today's ``LocalMiniLMEmbeddings(precision="float32")``, the exact path;
- ``bfloat16``: ``precision="bfloat16"``, documents and queries alike (the default before
  queries got int8);
- ``default``: today's ``LocalMiniLMEmbeddings()`` (``precision="auto"``: bfloat16 dense layers
  on CPUs with AVX-512, float32 elsewhere, and single queries in int8 where AVX-512 VNNI is
  there; the table names what it chose), its queries through onnxruntime where installed;
- ``numpy queries``: the default with ``query_engine="numpy"``, queries through the numpy
  encoder as before onnxruntime ran them (documents identical to the default's).

Three text sets: generated short sentences, LoCoMo dialogue turns (``Speaker: text``) and LoCoMo
questions. Each is embedded as one ``embed_documents`` call (texts/s, best of two interleaved
runs, plus texts per CPU-second, which other processes on the machine do not lower), and some
texts one at a time as queries (``embed_query`` latency, p50 / p95 over two rounds; with one
thread also in CPU time, which on a busy machine is closer to what an idle one shows). numpy's
BLAS is limited to 1 and to 2 threads, each in its own subprocess since the count is fixed when
numpy loads; the default path also runs as many worker threads as BLAS may use.

Agreement: cosine of each path's vectors with the ``before`` float32 ones on
``embedding_texts.agreement_texts`` (short, empty, non-ASCII, over-long), embedded as documents
and one by one as queries, and on every text set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import embedding_cold
from benchmarks.common import markdown_table, percentiles, quick_mode, write_results
from benchmarks.embedding_texts import agreement_texts, locomo_texts, short_sentences

TARGET_TURNS_PER_S = 150.0  # LoCoMo turns embedded per second with 2 BLAS threads
# embed_query p95 on LoCoMo questions: what leaves room for a whole search within 5 ms.
TARGET_QUESTION_P95_MS = 2.3
MIN_AGREEMENT = 0.99  # least cosine with the float32 vectors that any approximate path may give
BLAS_THREADS = ("1", "2")
REPEATS = 2
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

Embed = Callable[[list[str]], np.ndarray]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def text_sets(quick: bool) -> dict[str, tuple[list[str], list[str]]]:
    """Set name -> (texts embedded as one batch, texts embedded one at a time as queries)."""
    queries = 40 if quick else 150
    sets = {"short sentences": short_sentences(200 if quick else 1000)}
    locomo = locomo_texts()
    if locomo is not None:
        turns, questions = locomo
        # Every n-th text: all conversations are represented, whatever the count.
        sets["LoCoMo turns"] = turns[:: 20 if quick else 6]
        sets["LoCoMo questions"] = questions[:: 10 if quick else 4]
    return {
        name: (texts, texts[:: max(1, len(texts) // queries)][:queries])
        for name, texts in sets.items()
    }


def _paths() -> tuple[dict[str, Embed], dict[str, Any]]:
    """The three paths as functions of a list of texts, plus facts about them."""
    from benchmarks.embedding_baseline import embed_before
    from reverie.embeddings import LocalMiniLMEmbeddings
    from reverie.embeddings.weights import load_weights

    default = LocalMiniLMEmbeddings()
    default.embed_query("warm up")
    exact = LocalMiniLMEmbeddings(precision="float32")
    exact.embed_query("warm up")
    bfloat16 = LocalMiniLMEmbeddings(precision="bfloat16")
    bfloat16.embed_query("warm up")
    numpy_queries = LocalMiniLMEmbeddings(query_engine="numpy")
    numpy_queries.embed_query("warm up")
    tokenizer = exact._loaded().tokenizer
    weights = load_weights(exact.model_dir)

    def before(texts: list[str]) -> np.ndarray:
        return embed_before(tokenizer, weights, texts)

    def now(embedder: LocalMiniLMEmbeddings) -> Embed:
        def embed(texts: list[str]) -> np.ndarray:
            if len(texts) == 1:  # what a store's search calls
                return np.asarray([embedder.embed_query(texts[0])], dtype=np.float32)
            return np.asarray(embedder.embed_documents(texts), dtype=np.float32)

        return embed

    facts = {
        "default_precision": default.precision,
        "default_query_precision": default.query_precision,
        "default_query_engine": default.query_engine,
        "default_threads": default.threads,
        "tokenizer": tokenizer,
    }
    paths = {"before": before, "float32": now(exact), "bfloat16": now(bfloat16)}
    return {**paths, "numpy_queries": now(numpy_queries), "default": now(default)}, facts


def _agreement(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cosines = np.sum(vectors * reference, axis=1) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1)
    )
    return {
        "min_cosine": float(cosines.min()),
        "mean_cosine": float(cosines.mean()),
        "max_abs_diff": float(np.abs(vectors - reference).max()),
    }


def measure(quick: bool) -> dict[str, Any]:
    """Measure in this process, with whatever BLAS threading it was started with."""
    paths, facts = _paths()
    tokenizer = facts.pop("tokenizer")
    sets = text_sets(quick)
    result: dict[str, Any] = {**facts, "sets": {}, "agreement": {}}
    for set_name, (texts, queries) in sets.items():
        wall: dict[str, list[float]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        vectors: dict[str, np.ndarray] = {}
        for _ in range(REPEATS):  # interleaved, so a busy moment hits every path alike
            for name, embed in paths.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                vectors[name] = embed(texts)
                wall[name].append(_rate(len(texts), time.perf_counter() - start))
                cpu[name].append(_rate(len(texts), time.process_time() - cpu_start))
        latencies: dict[str, list[float]] = {name: [] for name in paths}
        cpu_latencies: dict[str, list[float]] = {name: [] for name in paths}
        # Each path embeds all queries back to back, as a process serving one model does: per
        # query, the paths would evict each other's weights from the CPU cache.
        for _ in range(REPEATS):
            for name, embed in paths.items():
                for query in queries:
                    start, cpu_start = time.perf_counter(), time.process_time()
                    embed([query])
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    cpu_latencies[name].append((time.process_time() - cpu_start) * 1000)
        tokens = [len(tokenizer.encode(text).ids) for text in texts]
        result["sets"][set_name] = {
            "texts": len(texts),
            "queries": len(queries),
            "mean_tokens": float(np.mean(tokens)),
            "max_tokens": int(np.max(tokens)),
            "paths": {
                name: {
                    "texts_per_s": max(wall[name]),
                    "texts_per_cpu_s": max(cpu[name]),
                    "query_ms": percentiles(latencies[name]),
                    "query_cpu_ms": percentiles(cpu_latencies[name]),
                    "agreement": _agreement(vectors[name], vectors["before"]),
                }
                for name in paths
            },
        }
    hard = agreement_texts(quick)
    reference = paths["before"](hard)
    result["agreement_texts"] = len(hard)
    result["agreement"] = {
        name: _agreement(embed(hard), reference) for name, embed in paths.items()
    }
    result["query_agreement"] = {
        name: _agreement(np.concatenate([embed([text]) for text in hard]), reference)
        for name, embed in paths.items()
    }
    return result


def _measure_in_subprocess(quick: bool, threads: str) -> dict[str, Any]:
    env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, threads)}
    args = [sys.executable, "-m", "benchmarks.embedding_bench", "--measure"]
    args += ["--quick"] if quick else []
    completed = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _yes(met: bool) -> str:
    return "**yes**" if met else "no"


def tables(runs: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    one, two = runs[BLAS_THREADS[0]], runs[BLAS_THREADS[1]]
    engine = one.get("default_query_engine", "numpy")
    default_label = (
        f"default ({one['default_precision']}, queries {one['default_query_precision']} "
        f"via {engine})"
    )
    label = {
        "before": "before (float32)",
        "float32": "float32 (exact)",
        "bfloat16": "bfloat16",
        "numpy_queries": "default, queries via numpy",
        "default": default_label,
    }
    rows = []
    for set_name, measured in one["sets"].items():
        for name, path in measured["paths"].items():
            other = two["sets"][set_name]["paths"][name]
            rows.append(
                [
                    set_name,
                    label[name],
                    path["texts_per_s"],
                    other["texts_per_s"],
                    path["texts_per_cpu_s"],
                    f"{path['query_ms']['p50']:.2f} / {path['query_ms']['p95']:.2f}",
                    f"{path['query_cpu_ms']['p50']:.2f} / {path['query_cpu_ms']['p95']:.2f}",
                    f"{other['query_ms']['p50']:.2f} / {other['query_ms']['p95']:.2f}",
                    f"{path['agreement']['min_cosine']:.6f}",
                ]
            )
    speed = markdown_table(
        [
            "texts",
            "path",
            "texts/s, 1 thread",
            "texts/s, 2 threads",
            "texts per CPU-s, 1 thread",
            "query p50 / p95 ms, 1 thread",
            "query CPU p50 / p95 ms, 1 thread",
            "query p50 / p95 ms, 2 threads",
            "min cosine with before",
        ],
        rows,
    )
    agreement = markdown_table(
        [
            "path",
            "min cosine",
            "mean cosine",
            "max |difference|",
            "as queries: min cosine",
            "as queries: mean cosine",
        ],
        [
            [
                label[name],
                f"{stats['min_cosine']:.7f}",
                f"{stats['mean_cosine']:.7f}",
                f"{stats['max_abs_diff']:.2e}",
                f"{one['query_agreement'][name]['min_cosine']:.7f}",
                f"{one['query_agreement'][name]['mean_cosine']:.7f}",
            ]
            for name, stats in one["agreement"].items()
        ],
    )
    verdicts: dict[str, Any] = {}
    target_rows = []
    if "LoCoMo turns" in one["sets"]:
        for name in ("float32", "bfloat16", "numpy_queries", "default"):
            turns = two["sets"]["LoCoMo turns"]["paths"][name]["texts_per_s"]
            p95 = {
                threads: run["sets"]["LoCoMo questions"]["paths"][name]["query_ms"]["p95"]
                for threads, run in runs.items()
            }
            least = min(
                one["agreement"][name]["min_cosine"], one["query_agreement"][name]["min_cosine"]
            )
            verdicts[name] = {
                "turns_per_s_2_threads": turns >= TARGET_TURNS_PER_S,
                **{
                    f"question_p95_ms_{threads}_threads": ms <= TARGET_QUESTION_P95_MS
                    for threads, ms in p95.items()
                },
                "agreement": least >= MIN_AGREEMENT,
            }
            target_rows.append(
                [
                    label[name],
                    f"LoCoMo turns/s, 2 threads >= {TARGET_TURNS_PER_S:.0f}",
                    turns,
                    _yes(turns >= TARGET_TURNS_PER_S),
                ]
            )
            target_rows += [
                [
                    label[name],
                    f"question query p95, {threads} thread(s) <= {TARGET_QUESTION_P95_MS} ms",
                    ms,
                    _yes(ms <= TARGET_QUESTION_P95_MS),
                ]
                for threads, ms in p95.items()
            ]
            target_rows.append(
                [
                    label[name],
                    f"min cosine with float32 (documents and queries) >= {MIN_AGREEMENT}",
                    f"{least:.6f}",
                    _yes(least >= MIN_AGREEMENT),
                ]
            )
    targets = markdown_table(["path", "target", "measured", "met"], target_rows)
    notes = "\n".join(
        f"- {name}: {m['texts']} texts, {m['mean_tokens']:.1f} tokens on average (at most "
        f"{m['max_tokens']}); {m['queries']} of them, evenly spaced, also one at a time as queries."
        for name, m in one["sets"].items()
    )
    text = (
        f"{speed}\n\nAgreement on {one['agreement_texts']} hard texts (short, empty, non-ASCII, "
        f"past 256 tokens), cosine with the before (float32) vectors:\n\n{agreement}\n\n"
        f"Targets:\n\n{targets}\n\n{notes}\n\nThe default chose {one['default_precision']} "
        f"(queries {one['default_query_precision']} via {engine}) here and ran "
        f"{two['default_threads']} worker thread(s) with 2 BLAS threads. "
        f"texts/s: best of {REPEATS} interleaved runs."
    )
    return text, verdicts


def run(quick: bool) -> None:
    runs = {threads: _measure_in_subprocess(quick, threads) for threads in BLAS_THREADS}
    text, verdicts = tables(runs)
    first_query = embedding_cold.measure()
    text += "\n\n" + embedding_cold.table(first_query)
    write_results(
        "embeddings",
        {
            "quick": quick,
            "targets": {
                "locomo_turns_per_s_2_threads": TARGET_TURNS_PER_S,
                "question_query_p95_ms": TARGET_QUESTION_P95_MS,
                "min_cosine_with_float32": MIN_AGREEMENT,
            },
            "met": verdicts,
            "runs": runs,
            "first_query": first_query,
        },
        text,
    )


if __name__ == "__main__":
    quick = quick_mode() or "--quick" in sys.argv
    if "--measure" in sys.argv:
        print(json.dumps(measure(quick)))
    else:
        run(quick)
