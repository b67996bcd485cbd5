"""The approximate-neighbour graph of large namespaces: same answers as exact ranking."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig, PutOp

from reverie.core.errors import ConfigurationError
from reverie.stores.embedded import EmbeddedStore, SearchMode, ann

DIMS = 32
CLUSTERS = 12
ITEMS = 600
THRESHOLD = 200


class TableEmbeddings(Embeddings):
    """Texts are names of precomputed vectors; unknown texts get a fixed hashed vector."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def _one(self, text: str) -> list[float]:
        if text not in self.table:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            self.table[text] = rng.standard_normal(DIMS).astype(np.float32)
        return [float(x) for x in self.table[text]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def table() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    centres = _unit(rng.standard_normal((CLUSTERS, DIMS)))
    found: dict[str, np.ndarray] = {}
    for i in range(ITEMS):
        found[f"item{i}"] = _unit(centres[i % CLUSTERS] + 0.4 * _unit(rng.standard_normal(DIMS)))
    for j in range(40):
        found[f"query{j}"] = _unit(centres[j % CLUSTERS] + 0.4 * _unit(rng.standard_normal(DIMS)))
    return found


def _index(table: dict[str, np.ndarray]) -> IndexConfig:
    return {"dims": DIMS, "embed": TableEmbeddings(table), "fields": ["text"]}


def _fill(store: EmbeddedStore, count: int = ITEMS) -> None:
    store.batch(
        [
            PutOp(("ns",), f"k{i}", {"text": f"item{i}", "cluster": i % CLUSTERS, "n": i % 50})
            for i in range(count)
        ]
    )


@pytest.fixture
def graph_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Records every candidate request made to a graph (so tests know the graph was used)."""
    calls: list[int] = []
    original = ann.NamespaceGraph.candidates

    def counting(self: ann.NamespaceGraph, query: np.ndarray, count: int) -> Any:
        calls.append(count)
        return original(self, query, count)

    monkeypatch.setattr(ann.NamespaceGraph, "candidates", counting)
    yield calls


def _hits(store: EmbeddedStore, query: str, **kwargs: Any) -> list[tuple[str, float | None]]:
    return [(h.key, h.score) for h in store.search(("ns",), query=query, **kwargs)]


def _same(a: list[tuple[str, float | None]], b: list[tuple[str, float | None]]) -> None:
    assert [k for k, _ in a] == [k for k, _ in b]
    assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=1e-6)


def _pair(path: Path, table: dict[str, np.ndarray], mode: SearchMode) -> tuple[EmbeddedStore, ...]:
    approx = EmbeddedStore(path, index=_index(table), search_mode=mode, ann_threshold=THRESHOLD)
    exact = EmbeddedStore(path, index=_index(table), search_mode=mode)
    return approx, exact


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_graph_results_equal_exact_ranking(
    tmp_path: Path, table: dict[str, np.ndarray], mode: SearchMode, graph_calls: list[int]
) -> None:
    approx, exact = _pair(tmp_path / "m.db", table, mode)
    with approx, exact:
        _fill(approx)
        for j in range(40):
            _same(_hits(approx, f"query{j}", limit=10), _hits(exact, f"query{j}", limit=10))
        slot = approx._cache._entries[1].graph  # noqa: SLF001
        # The first searches were audited against exact ranking; the graph passed them all.
        assert list(slot.recalls) == [1.0] * ann.AUDIT_MIN
        assert slot.graph is not None and not slot.off
    assert len(graph_calls) == 40


def test_below_threshold_ranks_exactly(
    tmp_path: Path, table: dict[str, np.ndarray], graph_calls: list[int]
) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=_index(table), ann_threshold=THRESHOLD) as store:
        _fill(store, THRESHOLD - 1)
        assert _hits(store, "query0", limit=5)
    assert graph_calls == []


def test_own_writes_are_visible_at_once(
    tmp_path: Path, table: dict[str, np.ndarray], graph_calls: list[int]
) -> None:
    approx, exact = _pair(tmp_path / "m.db", table, "vector")
    with approx, exact:
        _fill(approx)
        _hits(approx, "query0")  # builds the graph
        table["fresh"] = table["query1"]
        approx.put(("ns",), "new", {"text": "fresh"})
        assert _hits(approx, "query1", limit=1) == [("new", pytest.approx(1.0, abs=1e-6))]
        approx.put(("ns",), "new", {"text": "item5"})  # overwrite: the old vector is gone
        top = _hits(approx, "query1", limit=10)
        assert "new" not in [k for k, _ in top]
        _same(top, _hits(exact, "query1", limit=10))
        winner = top[0][0]
        approx.delete(("ns",), winner)
        after = _hits(approx, "query1", limit=10)
        assert winner not in [k for k, _ in after]
        _same(after, _hits(exact, "query1", limit=10))
        for j in range(40):
            _same(_hits(approx, f"query{j}", limit=10), _hits(exact, f"query{j}", limit=10))
    assert len(graph_calls) > 40


def test_another_writers_changes_rebuild_the_graph(
    tmp_path: Path, table: dict[str, np.ndarray], graph_calls: list[int]
) -> None:
    """A second store on the file stands for another process: its writes bump the version."""
    approx, other = _pair(tmp_path / "m.db", table, "vector")
    with approx, other:
        _fill(other)
        _hits(approx, "query2")
        first = approx._cache._entries[1].graph.graph  # noqa: SLF001
        table["theirs"] = table["query2"]
        other.put(("ns",), "theirs", {"text": "theirs"})
        other.delete(("ns",), "k0")
        assert _hits(approx, "query2", limit=1) == [("theirs", pytest.approx(1.0, abs=1e-6))]
        second = approx._cache._entries[1].graph.graph  # noqa: SLF001
        assert first is not None and second is not None and second is not first
        assert "k0" not in [k for k, _ in _hits(approx, "query0", limit=50)]
    assert graph_calls


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_filters_and_offsets_match_exact(
    tmp_path: Path, table: dict[str, np.ndarray], mode: SearchMode, graph_calls: list[int]
) -> None:
    approx, exact = _pair(tmp_path / "m.db", table, mode)
    with approx, exact:
        _fill(approx)
        cases: list[dict[str, Any]] = [
            {"limit": 10, "offset": 20},
            {"limit": 5, "offset": 95},
            {"limit": 10, "filter": {"cluster": 3}},  # the query's own cluster: in the pool
            {"limit": 10, "filter": {"cluster": 4}},  # another cluster: the pool runs dry
            {"limit": 10, "filter": {"n": 7}},  # 12 items in all, most far away
            {"limit": 20, "offset": 5, "filter": {"n": {"$gte": 40}}},
        ]
        for case in cases:
            for j in (3, 15):
                _same(_hits(approx, f"query{j}", **case), _hits(exact, f"query{j}", **case))
        # Exactly 12 items have n == 7, whichever ranking found them.
        assert len(_hits(approx, "query3", limit=50, filter={"n": 7})) == 12
    assert graph_calls


def test_background_build_serves_exact_until_ready(
    tmp_path: Path,
    table: dict[str, np.ndarray],
    graph_calls: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ann, "SYNC_BUILD_ROWS", 0)
    approx, exact = _pair(tmp_path / "m.db", table, "vector")
    with approx, exact:
        _fill(approx)
        _same(_hits(approx, "query4"), _hits(exact, "query4"))  # starts the build
        slot = approx._cache._entries[1].graph  # noqa: SLF001
        assert slot.pending is not None
        # Writes while the build runs are caught up when the graph is adopted.
        table["during"] = table["query4"]
        approx.put(("ns",), "during", {"text": "during"})
        approx.delete(("ns",), "k4")
        slot.pending.result(timeout=60)
        assert _hits(approx, "query4", limit=1) == [("during", pytest.approx(1.0, abs=1e-6))]
        assert slot.graph is not None and graph_calls
        for j in range(40):
            _same(_hits(approx, f"query{j}", limit=10), _hits(exact, f"query{j}", limit=10))
        assert "k4" not in [k for k, _ in _hits(approx, "query4", limit=100)]


def test_multi_vector_items_score_their_best_vector(
    tmp_path: Path, table: dict[str, np.ndarray], graph_calls: list[int]
) -> None:
    index: IndexConfig = {"dims": DIMS, "embed": TableEmbeddings(table), "fields": ["a", "b"]}
    values = [{"a": f"item{i}", "b": f"item{(i * 7 + 1) % ITEMS}"} for i in range(300)]
    approx = EmbeddedStore(tmp_path / "m.db", index=index, ann_threshold=THRESHOLD)
    exact = EmbeddedStore(tmp_path / "m.db", index=index)
    with approx, exact:
        approx.batch([PutOp(("ns",), f"k{i}", v) for i, v in enumerate(values)])
        for j in range(20):
            q = f"query{j}"
            _same(_hits(approx, q, limit=10), _hits(exact, q, limit=10))
    assert graph_calls


@pytest.mark.parametrize("bad", [-1, -100])
def test_negative_threshold_is_refused(tmp_path: Path, bad: int) -> None:
    with pytest.raises(ConfigurationError, match="ann_threshold"):
        EmbeddedStore(tmp_path / "m.db", ann_threshold=bad)


def test_failed_build_falls_back_to_exact_with_a_warning(
    tmp_path: Path,
    table: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("no room for the graph")

    monkeypatch.setattr(ann, "SYNC_BUILD_ROWS", 0)
    monkeypatch.setattr(ann.NamespaceGraph, "build", broken)
    approx, exact = _pair(tmp_path / "m.db", table, "vector")
    with approx, exact:
        _fill(approx)
        _same(_hits(approx, "query6"), _hits(exact, "query6"))  # queues the doomed build
        pending = approx._cache._entries[1].graph.pending  # noqa: SLF001
        assert pending is not None
        with pytest.raises(MemoryError):
            pending.result(timeout=60)
        with pytest.warns(RuntimeWarning, match="searched exactly"):
            _same(_hits(approx, "query6"), _hits(exact, "query6"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no second warning, no second build
            _same(_hits(approx, "query7"), _hits(exact, "query7"))
        assert approx._cache._entries[1].graph.pending is None  # noqa: SLF001


def test_cancelled_build_stops_early(table: dict[str, np.ndarray]) -> None:
    cancelled = threading.Event()
    cancelled.set()
    rows = np.stack([table[f"item{i}"] for i in range(ITEMS)]).astype(np.float16)
    keys = np.arange(ITEMS, dtype=np.int64)
    # The serial head is always built; with a head smaller than the rows the rest is skipped.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ann, "SERIAL_ROWS", 100)
        assert ann.NamespaceGraph.build(DIMS, keys, rows, ITEMS, cancelled) is None
    assert ann.NamespaceGraph.build(DIMS, keys, rows, ITEMS, threading.Event()) is not None


def test_audits_drop_a_graph_with_poor_recall(
    tmp_path: Path, table: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph that stops finding the true neighbours is noticed and replaced by exact search."""

    def far_rows(self: ann.NamespaceGraph, query: np.ndarray, count: int) -> Any:
        return np.arange(ITEMS - 2 * count, ITEMS, dtype=np.int64)  # blind to most items

    monkeypatch.setattr(ann.NamespaceGraph, "candidates", far_rows)
    approx, exact = _pair(tmp_path / "m.db", table, "vector")
    with approx, exact:
        _fill(approx)
        for j in range(ann.AUDIT_MIN):  # the first searches are all audited
            _hits(approx, f"query{j}", limit=10)
        slot = approx._cache._entries[1].graph  # noqa: SLF001
        assert slot.off and slot.graph is None
        assert float(np.mean(slot.recalls)) < ann.MIN_RECALL
        for j in range(40):
            _same(_hits(approx, f"query{j}", limit=10), _hits(exact, f"query{j}", limit=10))


def test_recall_at_compares_top_sets() -> None:
    ids = np.arange(20, dtype=np.int64)
    exact = (ids, np.linspace(1.0, 0.0, 20).astype(np.float32))
    assert ann.recall_at(exact, exact) == 1.0
    half = (ids[5:], exact[1][5:])  # misses the best five
    assert ann.recall_at(half, exact) == 0.5
    assert ann.recall_at((ids[:0], exact[1][:0]), (ids[:0], exact[1][:0])) == 1.0


def test_audits_are_dense_at_first_then_rare() -> None:
    slot = ann.GraphSlot()
    audited = [n for n in range(1, 3 * ann.AUDIT_EVERY + 1) if slot.audit_due()]
    assert audited == [*range(1, ann.AUDIT_MIN + 1), *(k * ann.AUDIT_EVERY for k in (1, 2, 3))]


def test_missing_usearch_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "usearch.index", None)  # makes the import fail
    with pytest.raises(ConfigurationError, match="usearch"):
        EmbeddedStore(tmp_path / "m.db", ann_threshold=1000)
    EmbeddedStore(tmp_path / "m.db").close()  # exact search needs no usearch


def test_a_process_that_never_closes_its_store_exits_during_a_build(tmp_path: Path) -> None:
    """A graph build runs for tens of seconds; it must not keep the process alive at exit."""
    script = f"""
import time
from reverie.stores.embedded import EmbeddedStore, ann
from reverie.testing import hashing_index

ann.SYNC_BUILD_ROWS = 0
ann.NamespaceGraph.build = lambda *args, **kwargs: time.sleep(300)
store = EmbeddedStore({str(tmp_path / "m.db")!r}, index=hashing_index(), ann_threshold=10)
for i in range(50):
    store.put(("ns",), str(i), {{"text": f"note {{i}}"}})
store.search(("ns",), query="note 3")
assert store._cache._entries[1].graph.pending.running()
print("searching while building")
"""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "searching while building" in done.stdout
    assert time.monotonic() - started < 60
