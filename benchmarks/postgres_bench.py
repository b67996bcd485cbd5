"""PostgreSQL + pgvector search latency, Reverie's store beside LangGraph's plain PostgresStore.

Scenarios (384-dimensional vectors, the size of all-MiniLM-L6-v2; HNSW index with pgvector's
defaults m=16, ef_construction=64; statistics fresh after ANALYZE):

- 10k and 100k memories in one namespace (the table holds only that namespace);
- one user's 100 memories among 1,000,000 (10,000 namespaces of 100). Loading and indexing the
  million rows takes about 5 minutes on 2 cores (3 GB of maintenance memory for the HNSW
  build); ``REVERIE_BENCH_PG_AMONG=200000`` picks a smaller table.

Quick mode (``REVERIE_BENCH_QUICK=1``): 10k in one namespace and 100 among 20,000.

Query embedding is excluded: queries are precomputed random vectors. Each search asks for the
top 10; recall@10 is measured against an exact brute-force scan of the namespace. Needs the
server from ``bash scripts/postgres.sh start`` (or ``REVERIE_BENCH_POSTGRES_URL``); without one
it prints why and writes nothing.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings

from benchmarks.common import markdown_table, percentiles, write_results

ADMIN_URL = os.environ.get(
    "REVERIE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:55432/postgres"
)
DIMS = 384
LIMIT = 10
CLUSTERS = 1000
NOISE = 0.8


class QueryTable(Embeddings):
    """Precomputed query vectors, so timings exclude embedding."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


def _server_problem() -> str | None:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name='vector'")
            if row.fetchone() is None:
                return "pgvector is not installed"
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[-1]
    return None


def _url(name: str) -> str:
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


@contextmanager
def _database() -> Iterator[str]:
    name = f"reverie_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _index(queries: QueryTable) -> dict[str, Any]:
    return {"dims": DIMS, "embed": queries, "fields": ["content.content"]}


def _load(url: str, total: int, namespaces: int) -> float:
    """Bulk-load ``total`` memories over ``namespaces`` namespaces; returns seconds taken."""
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # The HNSW graph is built fastest when it fits in memory (about 2 GB per million rows).
        memory = f"{max(1, 3 * total // 1_000_000)}GB"
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (memory,))
        conn.execute("DROP INDEX IF EXISTS store_vectors_embedding_idx")
        conn.execute(
            """INSERT INTO store (prefix, key, value)
               SELECT 'bench.ns' || (g %% %s), 'k' || g,
                      jsonb_build_object('kind', 'Memory',
                                         'content', jsonb_build_object('content', 'memory ' || g))
               FROM generate_series(1, %s) AS g""",
            (namespaces, total),
        )
        # Clustered vectors, like real embeddings (topics), rather than uniform noise, which no
        # approximate index can search well: each memory is one of CLUSTERS centres plus noise.
        conn.execute(
            """CREATE TEMP TABLE centres AS
               SELECT c, (SELECT array_agg(random() - 0.5) FROM generate_series(1, %s) AS d
                          WHERE c >= 0) AS v
               FROM generate_series(0, %s) AS c""",
            (DIMS, CLUSTERS - 1),
        )
        conn.execute(
            """INSERT INTO store_vectors (prefix, key, field_name, embedding)
               SELECT 'bench.ns' || (g %% %s), 'k' || g, 'content.content',
                      (SELECT array_agg(x + (random() - 0.5) * %s ORDER BY d)
                       FROM unnest(centres.v) WITH ORDINALITY AS t(x, d))::vector
               FROM generate_series(1, %s) AS g
               JOIN centres ON centres.c = (g::bigint * 7919) %% %s""",
            (namespaces, NOISE, total, CLUSTERS),
        )
        conn.execute("CREATE TABLE centres_saved AS SELECT * FROM centres")
        conn.execute(
            "CREATE INDEX store_vectors_embedding_idx ON store_vectors "
            "USING hnsw (embedding vector_cosine_ops)"
        )
        conn.execute("ANALYZE store")
        conn.execute("ANALYZE store_vectors")
    return time.perf_counter() - start


def _queries(url: str, count: int) -> dict[str, list[float]]:
    """Queries near random cluster centres, as a user's question is near a topic."""
    rng = np.random.default_rng(11)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(0.11)")
        rows = conn.execute(
            "SELECT v FROM centres_saved ORDER BY random() LIMIT %s", (count,)
        ).fetchall()
    return {
        f"q{i}": (np.asarray(row[0], dtype=np.float32) + (rng.random(DIMS) - 0.5) * NOISE)
        .astype(np.float32)
        .tolist()
        for i, row in enumerate(rows)
    }


def _truth(url: str, namespace: str, vector: list[float]) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT key FROM store_vectors WHERE prefix = %s "
            "ORDER BY (embedding <=> %s::float4[]::vector) + 0 LIMIT %s",
            (namespace, vector, LIMIT),
        ).fetchall()
    return [r[0] for r in rows]


def _measure(search: Callable[[int], list[Any]], count: int) -> tuple[dict[str, float], list]:
    search(0)  # warm caches
    samples, results = [], []
    for i in range(count):
        start = time.perf_counter()
        hits = search(i)
        samples.append((time.perf_counter() - start) * 1000)
        results.append(hits)
    return percentiles(samples), results


def _scenario(label: str, total: int, namespaces: int, count: int) -> list[dict[str, Any]]:
    from langgraph.store.postgres import PostgresStore

    from reverie.stores.postgres import SearchTuning, open_postgres_store

    table = QueryTable({})
    ns_size = total // namespaces
    target = ("bench", "ns1" if namespaces > 1 else "ns0")
    path = "exact" if ns_size <= SearchTuning().exact_below else "HNSW, iterative scan"
    rows: list[dict[str, Any]] = []
    with _database() as url, open_postgres_store(url, index=_index(table)) as store:
        load_s = _load(url, total, namespaces)
        print(f"{label}: loaded and indexed {total:,} memories in {load_s:.0f} s")
        table.vectors.update(_queries(url, count))
        truths = [_truth(url, ".".join(target), table.vectors[f"q{i}"]) for i in range(count)]
        plain_index: Any = _index(table)
        with (
            open_postgres_store(url, index=_index(table), exact_search_below=0) as forced,
            PostgresStore.from_conn_string(
                url, index=plain_index, pool_config={"min_size": 1, "max_size": 2}
            ) as plain,
        ):
            candidates: list[tuple[str, str, Any]] = [("Reverie PostgreSQL store", path, store)]
            if path == "exact":
                candidates.append(("Reverie, exact_search_below=0", "HNSW, iterative scan", forced))
            candidates.append(("LangGraph PostgresStore", "as planned by PostgreSQL", plain))
            for name, how, subject in candidates:

                def search(i: int, subject: Any = subject) -> list[Any]:
                    return list(subject.search(target, query=f"q{i}", limit=LIMIT))

                stats, results = _measure(search, count)
                recall = float(
                    np.mean(
                        [
                            len({h.key for h in hits} & set(truth)) / max(1, len(truth))
                            for hits, truth in zip(results, truths, strict=True)
                        ]
                    )
                )
                rows.append(
                    {
                        "scenario": label,
                        "table_rows": total,
                        "namespace_size": ns_size,
                        "store": name,
                        "search": how,
                        "p50_ms": stats["p50"],
                        "p95_ms": stats["p95"],
                        "recall_at_10": recall,
                        "load_s": load_s,
                    }
                )
    return rows


def run(quick: bool) -> None:
    problem = _server_problem()
    if problem is not None:
        print(
            f"postgres_bench skipped: no PostgreSQL with pgvector at {ADMIN_URL} ({problem}); "
            "run `bash scripts/postgres.sh start` (root) to enable."
        )
        return
    count = 50 if quick else 200
    scenarios = [("10k in one namespace", 10_000, 1)]
    if quick:
        scenarios.append(("100 among 20k", 20_000, 200))
    else:
        among = int(os.environ.get("REVERIE_BENCH_PG_AMONG", "1000000"))
        scenarios += [
            ("100k in one namespace", 100_000, 1),
            (f"100 among {among // 1000}k", among, among // 100),
        ]
    rows: list[dict[str, Any]] = []
    for label, total, namespaces in scenarios:
        rows += _scenario(label, total, namespaces, count)
    by_scenario: dict[str, dict[str, float]] = {}
    for row in rows:
        by_scenario.setdefault(row["scenario"], {})[row["store"]] = row["p50_ms"]
    for row in rows:
        ours = by_scenario[row["scenario"]]["Reverie PostgreSQL store"]
        row["p50_vs_reverie"] = row["p50_ms"] / ours if ours else float("nan")
    table = markdown_table(
        ["scenario", "store", "search", "p50 ms", "p95 ms", "× Reverie p50", "recall@10"],
        [
            [
                r["scenario"],
                r["store"],
                r["search"],
                r["p50_ms"],
                r["p95_ms"],
                r["p50_vs_reverie"],
                r["recall_at_10"],
            ]
            for r in rows
        ],
    )
    notes = (
        f"\n\n{DIMS}-dim vectors in {CLUSTERS} clusters, top {LIMIT}, query embedding "
        f"excluded, {count} queries per row; recall@10 against a brute-force scan. "
        "Reverie searches namespaces of up to 2,000 memories exactly, larger ones through HNSW. "
        f"Largest table: {max(r['table_rows'] for r in rows):,} rows."
    )
    write_results("postgres_bench", {"quick": quick, "rows": rows}, table + notes)
