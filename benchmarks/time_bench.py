"""What searching the past costs: ``as_of`` search against the current-state search.

One embedded store holds a namespace of 100k memories of which half were superseded: 50k
current memories (with their time records) and 50k closed versions, written as the memory
managers write them. Beside it, a namespace of 100k current memories, as a namespace of that
size was searched before memories had versions. Vectors are 384-dimensional (all-MiniLM-L6-v2's
size) and random; query embedding is excluded. Side by side in one run:

- current-state search of the 100k namespace (the baseline the target refers to),
- current-state search of the superseded namespace (its 50k current memories),
- ``as_of`` search of the superseded namespace (current and closed versions, a date in the
  middle of their history).

Target: ``as_of`` p95 within 1.5x of the baseline's.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from langgraph.store.base import Item, PutOp

from benchmarks.common import markdown_table, quick_mode, write_results
from benchmarks.store_bench import Dataset, _index, _time_searches
from reverie.core.effects import run as drive
from reverie.ledger import port_for
from reverie.ledger.time_search import TimeQuery, search_in_time
from reverie.ledger.timeline import Moment, timeline_writes
from reverie.stores.embedded import EmbeddedStore

TARGET_RATIO = 1.5
ROUNDS = 3  # passes per case; medians reported
WHOLE = ("bench", "whole")
VERSIONED = ("bench", "versioned")
START = datetime(2023, 1, 1, tzinfo=timezone.utc)
BATCH = 2_000


def _versioned_ops(data: Dataset, half: int, fields: list[str] | None) -> list[Any]:
    """Memory i (< half) was stored at day i and replaced by memory half + i at day half + i;
    ``fields``: the store's default index fields (closed versions are indexed as memories)."""
    ops: list[Any] = []
    for i in range(half):
        old = {"kind": "Memory", "content": {"content": data.texts[i]}}
        new = {"kind": "Memory", "content": {"content": data.texts[half + i]}}
        stored = Item(
            value=old,
            key=f"k{i}",
            namespace=VERSIONED,
            created_at=START + timedelta(minutes=i),
            updated_at=START + timedelta(minutes=i),
        )
        replaced = START + timedelta(minutes=half + i)
        ops.append(PutOp(VERSIONED, f"k{i}", new))
        moment = Moment(replaced, replaced)
        ops += timeline_writes(VERSIONED, f"k{i}", stored, None, new, moment, store_fields=fields)
    return ops


def run(quick: bool) -> None:
    total = 20_000 if quick else 100_000
    half = total // 2
    queries = 50 if quick else 200
    budget = 10.0 if quick else 40.0  # seconds per pass of a case
    data = Dataset(total, 1, queries, seed=11)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = EmbeddedStore(Path(folder) / "time.db", index=_index(data))
        with store:
            ops = [PutOp(WHOLE, f"k{i}", {"kind": "Memory", "content": {"content": t}}) for i, t in enumerate(data.texts)]  # fmt: skip
            ops += _versioned_ops(data, half, store.default_index_fields())
            for i in range(0, len(ops), BATCH):
                store.batch(ops[i : i + BATCH])
            port = port_for(store)
            middle = START + timedelta(minutes=half + half // 2)

            def search(namespace: tuple[str, ...], when: TimeQuery) -> Any:
                def call(i: int) -> Any:
                    return drive(
                        search_in_time(port, namespace, when, query=data.queries[i], limit=10)
                    )

                return call

            cases = [
                ("current state", f"{total // 1000}k current memories", WHOLE, TimeQuery()),
                (
                    "current state",
                    f"{half // 1000}k current of {total // 1000}k",
                    VERSIONED,
                    TimeQuery(),
                ),  # fmt: skip
                (
                    "as_of",
                    f"{half // 1000}k current + {half // 1000}k closed",
                    VERSIONED,
                    TimeQuery(as_of=middle),
                ),  # fmt: skip
            ]
            # The cases take turns, ROUNDS times: a burst of noise from a neighbour then
            # lands in one pass of every case rather than in one case's only pass.
            passes: list[list[dict[str, float]]] = [[] for _ in cases]
            for _ in range(ROUNDS):
                for at, (_, _, namespace, when) in enumerate(cases):
                    passes[at].append(_time_searches(search(namespace, when), queries, budget))
            for (kind, content, _, _), found in zip(cases, passes, strict=True):
                stats = {k: statistics.median(p[k] for p in found) for k in ("p50", "p95")}
                rows.append({"search": kind, "namespace holds": content, **stats})
                rows[-1]["samples"] = sum(int(p["samples"]) for p in found)
    # Each round's ratio, then their median: p95 over 200 queries moves between passes.
    ratios = [a["p95"] / b["p95"] for a, b in zip(passes[2], passes[0], strict=True)]
    ratio = statistics.median(ratios)
    current_ratio = statistics.median(
        a["p95"] / b["p95"] for a, b in zip(passes[2], passes[1], strict=True)
    )
    table = markdown_table(
        ["search", "namespace holds", "p50 ms", "p95 ms", "queries"],
        [[r["search"], r["namespace holds"], r["p50"], r["p95"], r["samples"]] for r in rows],
    )
    table += (
        f"\n\nEmbedded store, hybrid search, 384-dim random vectors, query embedding excluded, "
        f"top 10; each figure the median of {ROUNDS} passes, the cases taking turns. as_of p95 / "
        f"current-state p95 of a {total // 1000}k namespace: {ratio:.2f}x "
        f"(target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'}); "
        f"/ current-state p95 of the same namespace's {half // 1000}k current memories: "
        f"{current_ratio:.2f}x (an as_of search ranks current and closed versions, twice as "
        "many).\n"
    )
    write_results(
        "time_bench",
        {
            "quick": quick,
            "rows": rows,
            "ratio_vs_whole": ratio,
            "ratios_per_round": ratios,
            "ratio_vs_current": current_ratio,
            "target_ratio": TARGET_RATIO,
            "target_met": ratio <= TARGET_RATIO,
        },
        table,
    )


if __name__ == "__main__":
    run(quick_mode() or "--quick" in sys.argv)
