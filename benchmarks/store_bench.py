"""Embedded store vs LangGraph's InMemoryStore vs LangGraph's SqliteStore, in one run.

Measures bulk put throughput and search latency (p50/p95) at 1k, 10k and 100k memories in one
namespace and at 1M memories over 10k namespaces (quick mode: 1k, 10k, and 100k over 1k
namespaces). Query embedding is excluded by an embedder that returns precomputed random unit
vectors (384 dims, the size of all-MiniLM-L6-v2), and included by embedding each query with
``reverie.embeddings.LocalMiniLMEmbeddings`` when that is installed.

LangGraph's ``SqliteStore`` needs the sqlite-vec extension for vector search, which this Python's
``sqlite3`` cannot load (built without ``enable_load_extension``); it is measured on what it can
do: puts (no embeddings, so its bulk rate is not comparable with the indexed stores'), and a
filtered search without a query.

Namespaces of 4,096 vectors or more are searched exactly through int8 codes that narrow the
candidates (see ``reverie.stores.embedded.quantized``); the 100k scenarios show that path.
Where a scenario has one large namespace, the embedded store is also measured with its opt-in
approximate-neighbour graph (``ann_threshold``): search latency, the graph's build time, and
recall@10 of its vector ranking against exact ranking. Random unit vectors are the hardest case
for such graphs (no structure to exploit); the "clustered" scenario stands for real embeddings,
which cluster by topic.

``REVERIE_BENCH_SCENARIOS`` (comma-separated substrings of scenario labels) runs only the
matching scenarios; results then go to ``store_bench_selected`` so the full run's are kept.
"""

from __future__ import annotations

import gc
import importlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, IndexConfig, PutOp
from langgraph.store.memory import InMemoryStore

from benchmarks.common import markdown_table, percentiles, write_results
from reverie.core.ports import Expectation
from reverie.stores.embedded import EmbeddedStore

DIMS = 384
BATCH = 2000
VOCAB = 20_000
ANN_THRESHOLD = 20_000
CENTRES = 200  # topics of the clustered vectors
RECALL_QUERIES = 200


class CachedEmbeddings(Embeddings):
    """Returns precomputed vectors for known texts; queries may go to a real model instead."""

    def __init__(self, table: dict[str, np.ndarray], query_model: Embeddings | None = None):
        self.table = table
        self.query_model = query_model
        self._by_id: dict[str, str] | None = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # numpy rows where lists are declared, on purpose: the stores take them without a copy.
        return [self.table[t] for t in texts]  # type: ignore[misc]

    def embed_query(self, text: str) -> list[float]:
        if self.query_model is not None:
            return self.query_model.embed_query(text)
        found = self.table.get(text)
        if found is None:
            # A hybrid search embeds the query less the words most memories share
            # (``reverie.retrieval.query_text``): the same question, known by its first word.
            found = self.table[self._queries()[text.split()[0]]]
        return found  # type: ignore[return-value]  # a numpy row, as above

    def _queries(self) -> dict[str, str]:
        """Query id ("q12") -> query text."""
        if self._by_id is None:
            self._by_id = {t.split()[0]: t for t in self.table if t.startswith("q")}
        return self._by_id


class Dataset:
    """``n`` memories over ``namespaces`` namespaces, plus queries; texts are Zipf-distributed
    words so keyword search sees realistic document frequencies."""

    def __init__(
        self, n: int, namespaces: int, queries: int, seed: int = 7, clustered: bool = False
    ) -> None:
        rng = np.random.default_rng(seed)
        words = np.array([f"w{i}" for i in range(VOCAB)])
        weights = 1.0 / np.arange(1, VOCAB + 1)
        weights /= weights.sum()
        picks = rng.choice(VOCAB, size=(n, 10), p=weights)
        self.texts = [f"m{i} " + " ".join(words[row]) for i, row in enumerate(picks)]
        self.vectors = _unit(rng.standard_normal((n, DIMS), dtype=np.float32))
        self.namespace_of = [("bench", f"ns{i % namespaces}") for i in range(n)]
        self.namespaces = namespaces
        qpicks = rng.choice(VOCAB, size=(queries, 5), p=weights)
        self.queries = [f"q{i} " + " ".join(words[row]) for i, row in enumerate(qpicks)]
        self.query_vectors = _unit(rng.standard_normal((queries, DIMS), dtype=np.float32))
        self.query_ns = [("bench", f"ns{rng.integers(namespaces)}") for _ in range(queries)]
        if clustered:
            # Points scattered around topic centres, as sentence embeddings group by topic.
            centres = _unit(rng.standard_normal((CENTRES, DIMS), dtype=np.float32))

            def around(count: int) -> np.ndarray:
                noise = _unit(rng.standard_normal((count, DIMS), dtype=np.float32))
                return _unit(centres[rng.integers(CENTRES, size=count)] + 0.35 * noise)

            self.vectors = around(n)
            self.query_vectors = around(queries)
        self.table = dict(zip(self.texts, self.vectors, strict=True))
        self.table.update(zip(self.queries, self.query_vectors, strict=True))

    def __len__(self) -> int:
        return len(self.texts)

    def ops(self) -> list[PutOp]:
        return [
            PutOp(ns, f"k{i}", {"kind": "Memory", "content": {"content": text}, "n": i % 100})
            for i, (ns, text) in enumerate(zip(self.namespace_of, self.texts, strict=True))
        ]


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def _index(data: Dataset, query_model: Embeddings | None = None) -> IndexConfig:
    return {
        "dims": DIMS,
        "embed": CachedEmbeddings(data.table, query_model),
        "fields": ["content.content"],
    }


def _load(store: BaseStore, data: Dataset) -> float:
    """Bulk-load in batches; returns puts per second."""
    ops = data.ops()
    start = time.perf_counter()
    for i in range(0, len(ops), BATCH):
        store.batch(ops[i : i + BATCH])
    return len(ops) / (time.perf_counter() - start)


def _time_searches(
    call: Callable[[int], Any], count: int, budget_s: float, cold: bool = False
) -> dict[str, float]:
    """Latency of ``call(i)`` per query. Warm (default): each query's namespace was searched
    just before, as in a running agent; cold: the first search of that namespace."""
    call(0)
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(count):
        if not cold:
            call(i)
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
        if time.perf_counter() > deadline and len(samples) >= 10:
            break
    return {**percentiles(samples), "samples": len(samples)}


def _single_put_rate(store: BaseStore, data: Dataset, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        store.put(("single",), f"s{i}", {"kind": "Memory", "content": {"content": data.texts[i]}})
    return count / (time.perf_counter() - start)


def _checked_commit_rate(store: EmbeddedStore, data: Dataset, count: int) -> float:
    """Read-check-write commits per second, as a memory manager makes them: read a memory,
    then update it and the thread's progress if the memory is unchanged."""
    namespace = ("single",)
    start = time.perf_counter()
    for i in range(count):
        key = f"s{i % 100}"
        seen = store.get(namespace, key)
        assert seen is not None
        result = store.commit(
            [Expectation.of(seen)],
            [
                PutOp(namespace, key, {"kind": "Memory", "content": {"content": data.texts[i]}}),
                PutOp(("progress",), "thread", {"consolidated": i}, index=False),
            ],
        )
        assert result.committed
    return count / (time.perf_counter() - start)


def _minilm() -> Embeddings | None:
    try:
        module = importlib.import_module("reverie.embeddings")
        model: Embeddings = module.LocalMiniLMEmbeddings()
        model.embed_query("warm up")
        return model
    except Exception as exc:  # not installed here: reported as not available
        print(f"query embedding included: not available ({type(exc).__name__}: {exc})")
        return None


def _wait_for_graphs(store: EmbeddedStore, data: Dataset) -> float:
    """Seconds from the first search of each queried namespace until its graph is ready."""
    start = time.perf_counter()
    for ns in dict.fromkeys(data.query_ns):
        store.search(ns, query=data.queries[0], limit=10)  # starts the build
    for entry in list(store._cache._entries.values()):  # noqa: SLF001
        if entry.graph.pending is not None:
            entry.graph.pending.result()
    return time.perf_counter() - start


def _graph_recall_at_10(store: EmbeddedStore, data: Dataset) -> float:
    """Recall@10 of the graphs' candidates alone (no audits), on the benchmark's queries."""
    from reverie.stores.embedded.ann import recall_at

    found = []
    for i in range(min(RECALL_QUERIES, len(data.queries))):
        (namespace,) = store._namespaces.exactly(data.query_ns[i])  # noqa: SLF001
        entry = store._searcher.entry(namespace)  # noqa: SLF001
        graph = store._cache.graph(entry)  # noqa: SLF001
        if graph is None:
            continue
        query = data.query_vectors[i]
        candidates = entry.vectors.scores_at(graph.candidates(query, 100), query)
        found.append(recall_at(candidates, entry.vectors.scores(query)))
    return float(np.mean(found)) if found else float("nan")


def _recall_at_10(approx: EmbeddedStore, exact: EmbeddedStore, data: Dataset) -> float:
    """Mean share of exact vector ranking's top 10 that the graph-assisted ranking returns."""
    found = []
    for i in range(min(RECALL_QUERIES, len(data.queries))):
        ns, query = data.query_ns[i], data.queries[i]
        truth = {h.key for h in exact.search(ns, query=query, limit=10)}
        got = {h.key for h in approx.search(ns, query=query, limit=10)}
        found.append(len(truth & got) / max(1, len(truth)))
    return float(np.mean(found))


def _narrowed_exact_share(store: EmbeddedStore, data: Dataset) -> float | None:
    """Share of queries whose top 100 through int8 narrowing equals a full float32 scan's
    (None when the namespace is too small to be narrowed)."""
    (entry,) = store._cache._entries.values()  # noqa: SLF001
    same = []
    for query in data.query_vectors:
        ids, scores, whole = entry.vectors.top_scores(query, 100)
        if whole:
            return None
        all_ids, all_scores = entry.vectors.scores(query)
        top = np.lexsort((ids, -scores))[:100]
        all_top = np.lexsort((all_ids, -all_scores))[:100]
        same.append(ids[top].tolist() == all_ids[all_top].tolist())
    return float(np.mean(same))


def _ann_rows(
    label: str,
    data: Dataset,
    path: Path,
    exact: EmbeddedStore,
    queries: int,
    threshold: int,
    record: Callable[[str, str, float | None, dict[str, float]], None],
) -> None:
    """Latency and recall@10 of the same searches through the approximate-neighbour graph."""
    approx = EmbeddedStore(path, index=_index(data), ann_threshold=threshold)
    n_q = len(data.queries)
    try:
        build_s = _wait_for_graphs(approx, data)
        graph_recall = _graph_recall_at_10(approx, data)
        exact.search_mode = approx.search_mode = "vector"
        recall = _recall_at_10(approx, exact, data)
        exact.search_mode = "hybrid"
        slots = [e.graph for e in approx._cache._entries.values()]  # noqa: SLF001
        audits = [r for slot in slots for r in slot.recalls]
        audit_recall = float(np.mean(audits)) if audits else float("nan")
        kept = all(slot.graph is not None for slot in slots)

        def search(i: int) -> Any:
            return approx.search(data.query_ns[i % n_q], query=data.queries[i % n_q], limit=10)

        for mode in ("hybrid", "vector"):
            approx.search_mode = mode
            stats = _time_searches(search, queries, 20)
            stats.update(
                recall_at_10=recall,
                graph_recall_at_10=graph_recall,
                graph_build_s=build_s,
                graph_audit_recall=audit_recall,
                graph_kept=kept,
            )
            record(f"embedded+ANN(>={threshold})", f"{mode}, embedding excluded", None, stats)
            print(
                f"{'':>22} recall@10={recall:.3f} graph alone={graph_recall:.3f} "
                f"graph build={build_s:.1f} s "
                f"audited graph recall@10={audit_recall:.3f} graph kept={kept}"
            )
    finally:
        approx.close()


def _sqlite_store(path: Path) -> Any:
    from langgraph.store.sqlite import SqliteStore

    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    store = SqliteStore(conn)
    store.setup()
    return store


def _scenario(
    label: str,
    data: Dataset,
    workdir: Path,
    queries: int,
    minilm: Embeddings | None,
    with_memory: bool,
    with_sqlite: bool,
    ann_threshold: int | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    n_q = len(data.queries)

    def record(store_name: str, what: str, puts: float | None, stats: dict[str, float]) -> None:
        row = {"scenario": label, "store": store_name, "search": what, "puts_per_s": puts, **stats}
        rows.append(row)
        print(
            f"{label:>22} {store_name:>14} {what:>28} puts/s={puts or 0:>9,.0f} "
            f"p50={stats['p50']:.2f} ms p95={stats['p95']:.2f} ms (n={stats['samples']})"
        )

    # Embedded (hybrid, and vector-only to show the fusion cost).
    path = workdir / f"{label}.db"
    store = EmbeddedStore(path, index=_index(data))
    rate = _load(store, data)

    def embedded_search(i: int) -> Any:
        return store.search(data.query_ns[i % n_q], query=data.queries[i % n_q], limit=10)

    if data.namespaces > 1:
        cold = _time_searches(embedded_search, queries, 20, cold=True)
        record("embedded", "hybrid, first search of a namespace", None, cold)
    record(
        "embedded", "hybrid, embedding excluded", rate, _time_searches(embedded_search, queries, 20)
    )
    # What the searches keep in process memory: vectors, int8 codes, keyword postings.
    entries = store._cache._entries.values()  # noqa: SLF001
    rows[-1]["index_mb"] = sum(e.nbytes for e in entries) / 1e6
    store.search_mode = "vector"
    record(
        "embedded", "vector, embedding excluded", None, _time_searches(embedded_search, queries, 20)
    )
    if data.namespaces == 1:
        rows[-1]["narrowed_exact_share"] = _narrowed_exact_share(store, data)
    store.search_mode = "hybrid"
    if ann_threshold:
        _ann_rows(label, data, path, store, queries, ann_threshold, record)

    def embedded_filtered(i: int) -> Any:
        return store.search(data.query_ns[i % n_q], filter={"n": i % 100}, limit=10)

    record("embedded", "filter, no query", None, _time_searches(embedded_filtered, queries, 10))
    single = _single_put_rate(store, data, 300)
    rows[-1]["single_puts_per_s"] = single
    rows[-1]["checked_commits_per_s"] = _checked_commit_rate(store, data, 300)
    store.close()
    if minilm is not None:
        store = EmbeddedStore(path, index=_index(data, minilm))
        record(
            "embedded",
            "hybrid, embedding included",
            None,
            _time_searches(embedded_search, queries, 20),
        )
        store.close()

    if with_memory:
        memory = InMemoryStore(index=_index(data))
        rate = _load(memory, data)

        def memory_search(i: int) -> Any:
            return memory.search(data.query_ns[i % n_q], query=data.queries[i % n_q], limit=10)

        record(
            "InMemoryStore",
            "vector, embedding excluded",
            rate,
            _time_searches(memory_search, queries, 15),
        )

        def memory_filtered(i: int) -> Any:
            return memory.search(data.query_ns[i % n_q], filter={"n": i % 100}, limit=10)

        record(
            "InMemoryStore", "filter, no query", None, _time_searches(memory_filtered, queries, 10)
        )
        del memory
        gc.collect()

    if with_sqlite:
        sqlite_store = _sqlite_store(workdir / f"{label}-lg.db")
        rate = _load(sqlite_store, data)

        def sqlite_filtered(i: int) -> Any:
            return sqlite_store.search(data.query_ns[i % n_q], filter={"n": i % 100}, limit=10)

        record(
            "SqliteStore", "filter, no query", rate, _time_searches(sqlite_filtered, queries, 10)
        )
        rows.append(
            {
                "scenario": label,
                "store": "SqliteStore",
                "search": "vector",
                "note": "not available: sqlite-vec cannot be loaded (sqlite3 built without "
                "enable_load_extension)",
            }
        )
        sqlite_store.conn.close()
    return rows


Scenario = tuple[str, int, int, bool, bool, int | None, bool]


def run(quick: bool) -> None:
    # label, memories, namespaces, with InMemoryStore, with SqliteStore, ANN threshold, clustered
    scenarios: Sequence[Scenario]
    if quick:
        scenarios = [
            ("1k in 1 namespace", 1_000, 1, True, True, None, False),
            ("10k in 1 namespace", 10_000, 1, True, True, 5_000, False),
            ("10k in 1 namespace, clustered", 10_000, 1, False, False, 5_000, True),
            ("100k over 1k namespaces", 100_000, 1_000, True, False, None, False),
        ]
        queries = 100
    else:
        scenarios = [
            ("1k in 1 namespace", 1_000, 1, True, True, None, False),
            ("10k in 1 namespace", 10_000, 1, True, True, None, False),
            ("100k in 1 namespace", 100_000, 1, True, True, ANN_THRESHOLD, False),
            ("100k in 1 namespace, clustered", 100_000, 1, False, False, ANN_THRESHOLD, True),
            ("1M over 10k namespaces", 1_000_000, 10_000, True, True, None, False),
        ]
        queries = 300
    selected = [s for s in os.environ.get("REVERIE_BENCH_SCENARIOS", "").split(",") if s.strip()]
    if selected:
        scenarios = [s for s in scenarios if any(x.strip() in s[0] for x in selected)]
    minilm = _minilm()
    workdir = Path(tempfile.mkdtemp(prefix="reverie-store-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        for label, n, namespaces, with_memory, with_sqlite, ann, clustered in scenarios:
            data = Dataset(n, namespaces, queries, clustered=clustered)
            gc.collect()
            gc.freeze()  # keep the collector from rescanning millions of benchmark objects
            rows += _scenario(label, data, workdir, queries, minilm, with_memory, with_sqlite, ann)
            del data
            gc.unfreeze()
            gc.collect()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _report(rows, quick, "store_bench_selected" if selected else "store_bench")


def _counterpart(rows: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
    """The embedded store's row measuring the same kind of search in the same scenario."""
    kind = (
        "filter, no query" if row["search"].startswith("filter") else "hybrid, embedding excluded"
    )
    for other in rows:
        if (
            other["scenario"] == row["scenario"]
            and other["store"] == "embedded"
            and other["search"] == kind
        ):
            return other
    return None


# The targets: p95 search latency, query embedding excluded.
TARGETS = (("100k in 1 namespace", 5.0), ("1M over 10k namespaces", 2.0))


def _targets(rows: list[dict[str, Any]]) -> str:
    lines = []
    for scenario, limit in TARGETS:
        for r in rows:
            if (r["scenario"], r["store"], r["search"]) == (
                scenario,
                "embedded",
                "hybrid, embedding excluded",
            ):
                verdict = "met" if r["p95"] <= limit else "MISSED"
                lines.append(
                    f"- {scenario}: hybrid p95 {r['p95']:.2f} ms, target <= {limit:g} ms: {verdict}"
                )
    return "\n\nTargets (embedding excluded):\n" + "\n".join(lines) if lines else ""


def _report(rows: list[dict[str, Any]], quick: bool, name: str) -> None:
    table_rows = []
    for r in rows:
        if "p50" not in r:
            table_rows.append([r["scenario"], r["store"], r["search"], "", "-", "-", r["note"]])
            continue
        note = ""
        ours = _counterpart(rows, r) if r["store"] != "embedded" else None
        if ours and ours.get("p95"):
            note = f"p95 = {r['p95'] / ours['p95']:.1f}x embedded ({ours['search']})"
            r["p95_vs_embedded"] = r["p95"] / ours["p95"]
        if r.get("recall_at_10") is not None:
            note = (
                f"recall@10 vs exact: graph alone {r['graph_recall_at_10']:.3f}, store "
                f"{r['recall_at_10']:.3f}; graph built in "
                f"{r['graph_build_s']:.1f} s; its audits saw recall@10 "
                f"{r['graph_audit_recall']:.3f}, so it was "
                f"{'kept' if r['graph_kept'] else 'dropped (exact search since)'}"
            )
        if r.get("single_puts_per_s"):
            note = f"single put() calls: {r['single_puts_per_s']:,.0f}/s"
        if r.get("checked_commits_per_s"):
            note += f"; checked commits: {r['checked_commits_per_s']:,.0f}/s"
        if r.get("narrowed_exact_share") is not None:
            note = (
                "int8-narrowed top 100 equal to a full float32 scan for "
                f"{r['narrowed_exact_share']:.0%} of queries"
            )
        if r.get("index_mb") is not None:
            note = f"in-memory search index of the namespaces searched: {r['index_mb']:,.0f} MB"
        puts = r.get("puts_per_s")
        table_rows.append(
            [
                r["scenario"],
                r["store"],
                r["search"],
                f"{puts:,.0f}" if puts else "",
                r["p50"],
                r["p95"],
                note,
            ]
        )
    table = markdown_table(
        ["scenario", "store", "search", "bulk puts/s", "p50 ms", "p95 ms", "note"], table_rows
    )
    table += _targets(rows)
    load = os.getloadavg()
    table += (
        f"\n\nLoad average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} CPUs (latencies include time waiting for a CPU)."
    )
    write_results(name, {"quick": quick, "rows": rows, "loadavg": load}, table)


if __name__ == "__main__":
    from benchmarks.common import quick_mode

    run(quick_mode())
