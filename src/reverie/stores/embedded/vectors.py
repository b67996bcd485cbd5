"""A namespace's vectors as one normalised float32 matrix, for exact cosine similarity.

Exact similarity is a single matrix-vector product over the namespace's rows, far cheaper than
reading blobs from SQLite on every search. Rows are appended and tombstoned in place so this
process's own writes never force a reload (see ``cache``). Large namespaces also keep int8
codes of their rows, which narrow a top-k search to a few candidates without losing exactness
(see ``quantized``).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from reverie.stores.embedded.quantized import QuantizedRows, int8_kernels

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


SPLIT_ROWS = 32_768  # below this one thread is faster than handing work to another
# Live rows from which a top-k search narrows candidates with int8 codes first (the codes cost a
# quarter of the matrix's memory). The float32 scan streams four times the bytes: for the top 100
# of MiniLM vectors it took 280 us at 4,000 rows and 570 us at 8,000, the int8 one 80 and 107 us
# (160 and 220 us with the caches just evicted, as after embedding a query).
QUANTIZED_MIN_ROWS = 4_096
# Top-k searches deeper than this share of the namespace scan everything exactly.
QUANTIZED_MAX_SHARE = 0.05


def similarities(
    matrix: FloatArray, query: FloatArray, pool: Executor | None = None, workers: int = 1
) -> FloatArray:
    """``matrix @ query`` with einsum: a SIMD loop on the calling thread(s).

    BLAS's own threaded matvec is no faster here (the product is memory-bound) and its spinning
    threads stall badly when other processes hold the cores; plain threads that block do not.
    """
    n = len(matrix)
    if pool is None or n < SPLIT_ROWS or workers < 2:
        product: FloatArray = np.einsum("ij,j->i", matrix, query)
        return product
    out = np.empty(n, dtype=np.float32)
    bounds = np.linspace(0, n, workers + 1, dtype=int)

    def part(lo: int, hi: int) -> None:
        np.einsum("ij,j->i", matrix[lo:hi], query, out=out[lo:hi])

    futures = [pool.submit(part, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    for future in futures:
        future.result()
    return out


def normalise(rows: FloatArray) -> FloatArray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: FloatArray = (rows / norms).astype(np.float32, copy=False)
    return unit


@dataclass
class NamespaceVectors:
    """Vectors of one namespace: ``ids[i]`` is the item row id of ``matrix[i]`` (-1 = removed)."""

    version: int
    dims: int
    ids: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    matrix: FloatArray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    size: int = 0
    dead: int = 0
    rows_of: dict[int, list[int]] = field(default_factory=dict)
    quantized: QuantizedRows | None = None
    _runs: tuple[IntArray, IntArray] | None = None
    _runs_key: tuple[int, int, int] | None = None
    _longest_run: int = 1
    _run_ends: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _sorted: tuple[IntArray, IntArray] | None = None  # live item ids ascending, and their rows
    _sorted_key: tuple[int, int, int] | None = None

    @classmethod
    def build(cls, version: int, dims: int, ids: IntArray, matrix: FloatArray) -> NamespaceVectors:
        entry = cls(version=version, dims=dims, ids=ids, matrix=normalise(matrix), size=len(ids))
        for row, item_id in enumerate(ids.tolist()):
            entry.rows_of.setdefault(item_id, []).append(row)
        return entry

    @property
    def nbytes(self) -> int:
        codes = self.quantized.nbytes if self.quantized is not None else 0
        return int(self.matrix.nbytes + self.ids.nbytes) + codes

    @property
    def single_vector_items(self) -> bool:
        return len(self.rows_of) == self.size - self.dead

    def remove(self, item_id: int) -> list[int]:
        """Tombstone the item's rows; returns their row numbers."""
        rows = self.rows_of.pop(item_id, [])
        for row in rows:
            self.ids[row] = -1
            self.matrix[row] = 0.0
            if self.quantized is not None:
                self.quantized.clear_row(row)
            self.dead += 1
        return rows

    def add(self, item_id: int, vectors: FloatArray) -> range:
        """Append the item's rows; returns their row numbers."""
        needed = self.size + len(vectors)
        if needed > len(self.ids):
            # Grow geometrically so a stream of single puts costs amortised O(1) copies.
            capacity = max(needed, 2 * len(self.ids), 64)
            ids = np.full(capacity, -1, dtype=np.int64)
            ids[: self.size] = self.ids[: self.size]
            matrix = np.zeros((capacity, self.dims), dtype=np.float32)
            matrix[: self.size] = self.matrix[: self.size]
            self.ids, self.matrix = ids, matrix
            if self.quantized is not None:
                self.quantized.grow(capacity)
        rows = list(range(self.size, needed))
        self.ids[rows] = item_id
        self.matrix[rows] = normalise(vectors)
        if self.quantized is not None:
            self.quantized.set_rows(self.size, self.matrix[self.size : needed])
        self.size = needed
        self.rows_of.setdefault(item_id, []).extend(rows)
        return range(rows[0], needed) if rows else range(needed, needed)

    def scores(
        self, query: FloatArray, pool: Executor | None = None, workers: int = 1
    ) -> tuple[IntArray, FloatArray]:
        """(item id, best cosine) for every live item; an item with several vectors keeps its max.

        Large matrices are split across ``pool``'s threads (einsum releases the GIL).
        """
        ids = self.ids[: self.size]
        sims = similarities(self.matrix[: self.size], query, pool, workers)
        if not self.single_vector_items:
            runs = self._item_runs()
            if runs is not None:
                # Each item's rows are adjacent: its best is one reduceat, no sort.
                starts, owners = runs
                best = np.maximum.reduceat(sims, starts)
                live = owners >= 0
                return owners[live], best[live]
        return self._best_per_item(ids, sims, self.dead > 0)

    def _item_runs(self) -> tuple[IntArray, IntArray] | None:
        """(first row, item id) of each run of rows of one item, if every item's rows are
        adjacent (as loading and this process's writes lay them out); cached until a write."""
        key = (self.size, self.dead, len(self.rows_of))
        if self._runs_key != key:
            ids = self.ids[: self.size]
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else ids
            owners = ids[starts]
            live = owners[owners >= 0]
            adjacent = len(np.unique(live)) == len(live)
            self._runs = (starts.astype(np.int64), owners) if adjacent else None
            self._run_ends = np.append(starts[1:], len(ids)).astype(np.int64)
            lengths = np.diff(np.append(starts, len(ids)))[owners >= 0]
            self._longest_run = int(lengths.max()) if len(lengths) else 1
            self._runs_key = key
        return self._runs

    def first_rows(self, items: IntArray) -> IntArray:
        """A row of each of ``items`` that has vectors (others are left out), found in arrays:
        a dict lookup per item of a large namespace misses the CPU cache every time."""
        found, at = self._locate(items)
        assert self._sorted is not None
        return self._sorted[1][at[found]]

    def holding(self, items: IntArray) -> npt.NDArray[np.bool_]:
        """Which of ``items`` have vectors here (as :meth:`first_rows` finds them)."""
        return self._locate(items)[0]

    def _locate(self, items: IntArray) -> tuple[npt.NDArray[np.bool_], IntArray]:
        """Whether each of ``items`` is here, and its place in the live ids sorted (cached until a
        write)."""
        key = (self.size, self.dead, len(self.rows_of))
        if self._sorted_key != key:
            ids = self.ids[: self.size]
            live = np.flatnonzero(ids >= 0)
            owners = ids[live]
            if len(owners) > 1 and not bool(np.all(owners[1:] >= owners[:-1])):
                order = np.argsort(owners, kind="stable")
                owners, live = owners[order], live[order]
            self._sorted, self._sorted_key = (owners, live.astype(np.int64)), key
        assert self._sorted is not None
        owners = self._sorted[0]
        at = np.searchsorted(owners, items)
        found = at < len(owners)
        found[found] = owners[at[found]] == items[found]
        return found, at

    def top_scores(
        self, query: FloatArray, count: int, pool: Executor | None = None, workers: int = 1
    ) -> tuple[IntArray, FloatArray, bool]:
        """Like :meth:`scores`, but only certain to include the ``count`` best items.

        Returns (item ids, exact cosines, whether every live item is included). Large
        namespaces are narrowed with int8 codes first; the scores returned are still exact.
        Items with several vectors are narrowed too when each item's rows are adjacent: with at
        most ``k`` rows an item, the best ``count * k`` rows hold every top item's best row
        (see :meth:`_best_of_top_rows`).
        """
        live = self.size - self.dead
        runs = None if self.single_vector_items else self._item_runs()
        rows_wanted = count * (1 if runs is None else self._longest_run)
        if (
            live < QUANTIZED_MIN_ROWS
            or rows_wanted > QUANTIZED_MAX_SHARE * live
            or (runs is None and not self.single_vector_items)
            or not query.any()
            or not self._ensure_quantized()
        ):
            return (*self.scores(query, pool, workers), True)
        assert self.quantized is not None
        dead = self.ids[: self.size] < 0 if self.dead else None
        rows, scores = self.quantized.top_rows(
            query, rows_wanted, self.matrix, self.size, dead, pool, workers
        )
        if runs is None:
            return self.ids[rows], scores, False
        return (*self._best_of_top_rows(rows, scores, rows_wanted), False)

    def _best_of_top_rows(
        self, rows: IntArray, scores: FloatArray, rows_wanted: int
    ) -> tuple[IntArray, FloatArray]:
        """(item id, best cosine) of the items whose best row is among the ``rows_wanted`` best,
        from the rows ``top_rows`` scored: no row is read again.

        ``top_rows`` returns every row that can reach its floor, so the ``rows_wanted`` best rows
        overall are among ``rows`` and their ``rows_wanted``-th score is the true one, ``least``.
        An item with a row at ``least`` or above has its best row among ``rows`` (a row left out
        is below the floor, so below ``least``). The ``count`` best items all have one: the
        ``count * longest_run`` best rows hold at least ``count`` items.
        """
        cut = max(len(scores) - rows_wanted, 0)
        least = np.partition(scores, cut)[cut]
        kept = scores >= least
        return self._best_per_item(self.ids[rows[kept]], scores[kept], True)

    def _best_of_runs(
        self, runs: tuple[IntArray, IntArray], rows: IntArray, query: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """(item id, best cosine) of every live item owning one of ``rows``, from all its rows
        (each item's rows are one run): a grid of run starts, no per-item lookups."""
        starts, owners = runs
        which = np.unique(np.searchsorted(starts, rows, side="right") - 1)
        which = which[owners[which] >= 0]
        begin, end = starts[which], self._run_ends[which]
        width = self._longest_run
        grid = begin[:, None] + np.arange(width)
        valid = grid < end[:, None]
        grid = np.where(valid, grid, begin[:, None])  # a short run repeats its first row
        sims = np.einsum("ij,j->i", self.matrix[grid.ravel()], query).reshape(grid.shape)
        return owners[which], sims.max(axis=1)

    def _ensure_quantized(self) -> bool:
        """Build the int8 codes on first need (False without a working ``numkong``)."""
        if self.quantized is None:
            kernels = int8_kernels()
            if kernels is None:
                return False
            self.quantized = QuantizedRows.of(self.matrix, self.size, kernels)
        return True

    def scores_at(self, rows: IntArray, query: FloatArray) -> tuple[IntArray, FloatArray]:
        """Like :meth:`scores`, for the given rows only (exact cosine from the float32 rows)."""
        rows = rows[(rows >= 0) & (rows < self.size)]
        runs = None if self.single_vector_items else self._item_runs()
        if runs is not None:
            return self._best_of_runs(runs, rows, query)
        if not self.single_vector_items:
            # An item's score is its best row: score all rows of every candidate item.
            items = np.unique(self.ids[rows])
            found = [self.rows_of[i] for i in items.tolist() if i >= 0]
            rows = np.asarray([r for group in found for r in group], dtype=np.int64)
        ids = self.ids[rows]
        sims = np.einsum("ij,j->i", self.matrix[rows], query)
        return self._best_per_item(ids, sims, True)

    def _best_per_item(
        self, ids: IntArray, sims: FloatArray, drop_dead: bool
    ) -> tuple[IntArray, FloatArray]:
        if drop_dead:
            live = ids >= 0
            ids, sims = ids[live], sims[live]
        if self.single_vector_items:
            return ids, sims
        order = np.lexsort((-sims, ids))
        ids, sims = ids[order], sims[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        return ids[first], sims[first]
