"""Int8 copies of a namespace's vectors, for a fast prefilter that still finds the exact top-k.

An exact float32 scan of a large namespace is bound by memory bandwidth (100k x 384 floats is
150 MB per query). Each row here also has an int8 code (a quarter of the bytes) with its own
scale, and the norm of what rounding lost. The int8 dot products, scaled, estimate every cosine,
and by Cauchy-Schwarz the true cosine lies within a known bound of each estimate:

    |q.x - est| <= |x - x'| + |q - q'| * |x'|     (x', q': the dequantised row and query)

The rows of highest estimate are scored exactly from the float32 matrix first; the ``count``-th
best of those exact scores is a floor under the ``count``-th best overall, so any other row
whose upper bound is below it cannot rank and is never read. Only a few hundred rows are read
in float32, and the result is the exact top ``count``, not an approximation: no recall is lost
on any data, which an approximate graph cannot promise.

The int8 dot products come from ``numkong``'s packed SIMD kernels (numpy has no fast int8
product), over blocks of rows packed once and repacked after a write; without numkong the caller
scans exactly in float32.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from reverie.stores.embedded.ranking import at_least

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int8]

LEVELS = 127.0  # int8 codes in [-127, 127]
# Rounding in the float32 products themselves: far below any bound, but never let it decide.
SLACK = 1e-4
# Rows per thread below which splitting the int8 scan costs more than it saves.
SPLIT_ROWS = 16_384
QUANTIZE_BLOCK = 2_048  # rows quantised at a time


# Rows packed together for numkong's packed int8 product (about 3x its plain one); a write
# repacks only its block, on the next search.
PACK_BLOCK = 8_192


@dataclass(frozen=True)
class Int8Kernels:
    """numkong's packed int8 product: ``pack(codes)`` once, then ``dots(query, packed)`` gives
    the exact int32 dot products of a (1, dims) query with every packed row."""

    pack: Callable[[CodeArray], Any]
    dots: Callable[[CodeArray, Any], Any]


def int8_kernels() -> Int8Kernels | None:
    """numkong's packed int8 product if it is installed and computes a known product exactly."""
    try:
        nk = importlib.import_module("numkong")
        left = np.array([[1, -2, 3]], dtype=np.int8)
        right = np.array([[4, 5, -6], [-7, 8, 9]], dtype=np.int8)
        # An int8 array without dtype=: numkong reads the numpy dtype.
        found = np.asarray(nk.dots_packed(left, nk.dots_pack(right))).tolist()
    except (ImportError, AttributeError, TypeError, ValueError):  # e.g. a clashing build
        return None
    return Int8Kernels(nk.dots_pack, nk.dots_packed) if found == [[-24, 4]] else None


def quantize(rows: FloatArray) -> tuple[CodeArray, FloatArray, FloatArray]:
    """Per-row symmetric int8 codes, their scales, and the norm of each row's rounding error."""
    peak = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows), dtype=np.float32)
    scale = (peak / LEVELS).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    codes = np.rint(rows / safe[:, None]).astype(np.int8)
    error = np.linalg.norm(rows - codes * scale[:, None], axis=1).astype(np.float32)
    return codes, scale, error


@dataclass
class QuantizedRows:
    """Int8 codes of rows ``[0, size)`` of a vector matrix, kept at the matrix's capacity."""

    codes: CodeArray
    scale: FloatArray
    error: FloatArray
    kernels: Int8Kernels
    max_error: float = 0.0  # an upper bound of ``error`` (removals do not lower it)
    # Per PACK_BLOCK rows: (rows packed, packed codes), None once a write touched the block.
    packed: list[tuple[int, Any] | None] = field(default_factory=list)

    @classmethod
    def of(cls, matrix: FloatArray, size: int, kernels: Int8Kernels) -> QuantizedRows:
        capacity, dims = matrix.shape
        found = cls(
            codes=np.zeros((capacity, dims), dtype=np.int8),
            scale=np.zeros(capacity, dtype=np.float32),
            error=np.zeros(capacity, dtype=np.float32),
            kernels=kernels,
        )
        found.set_rows(0, matrix[:size])
        return found

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.scale.nbytes + self.error.nbytes)

    def grow(self, capacity: int) -> None:
        size = len(self.scale)
        codes = np.zeros((capacity, self.codes.shape[1]), dtype=np.int8)
        codes[:size] = self.codes
        scale = np.zeros(capacity, dtype=np.float32)
        scale[:size] = self.scale
        error = np.zeros(capacity, dtype=np.float32)
        error[:size] = self.error
        self.codes, self.scale, self.error = codes, scale, error

    def set_rows(self, start: int, rows: FloatArray) -> None:
        end = start + len(rows)
        # In blocks that stay in cache: quantising is several passes over the rows.
        for lo in range(0, len(rows), QUANTIZE_BLOCK):
            at = slice(start + lo, start + min(lo + QUANTIZE_BLOCK, len(rows)))
            self.codes[at], self.scale[at], self.error[at] = quantize(
                rows[lo : lo + QUANTIZE_BLOCK]
            )
        if end > start:
            self.max_error = max(self.max_error, float(self.error[start:end].max()))
            self._stale(start, end)

    def clear_row(self, row: int) -> None:
        self.codes[row] = 0
        self.scale[row] = 0.0
        self.error[row] = 0.0
        self._stale(row, row + 1)

    def _stale(self, start: int, end: int) -> None:
        for block in range(start // PACK_BLOCK, min(len(self.packed), -(-end // PACK_BLOCK))):
            self.packed[block] = None

    def top_rows(
        self,
        query: FloatArray,
        count: int,
        matrix: FloatArray,
        size: int,
        dead: npt.NDArray[np.bool_] | None,
        pool: Executor | None,
        workers: int,
    ) -> tuple[IntArray, FloatArray]:
        """Rows surely including the ``count`` rows of highest exact cosine with ``query``, and
        their exact cosines (``matrix @ query``). ``dead`` marks removed rows, never returned.

        The rows of highest estimate are scored exactly first; the ``count``-th best of those
        exact scores is a floor the ``count``-th best overall cannot be under, so every other
        row whose upper bound is below it is skipped without being read.
        """
        (query_codes,), (query_scale,), (query_error,) = quantize(query[None, :])
        if query_scale <= 0:
            raise ValueError("top_rows needs a non-zero query (rank a zero query exactly)")
        # Estimates without the query's scale (a positive constant: it changes no order).
        estimate = self._dots(query_codes, size, pool, workers)
        estimate *= self.scale[:size]
        if dead is not None:
            estimate[dead] = -np.inf
        first = np.flatnonzero(estimate >= at_least(estimate, count))
        first_scores = np.einsum("ij,j->i", matrix[first], query)
        floor = float(np.partition(first_scores, len(first) - count)[len(first) - count])

        # A row can rank only if its upper bound, scale * estimate + bound, reaches the floor,
        # where bound = error * (1 + query_error) + query_error (|x'| <= 1 + error for unit
        # rows). One pass with the largest row error narrows cheaply; each row's own error
        # then decides among the few left.
        def reach(errors: FloatArray | float) -> FloatArray | float:
            bound: FloatArray | float = (
                floor - query_error - SLACK - errors * (1.0 + query_error)
            ) / query_scale
            return bound

        rest = estimate >= reach(self.max_error)
        rest[first] = False
        more = np.flatnonzero(rest)
        more = more[estimate[more] >= reach(self.error[more])]
        more_scores = np.einsum("ij,j->i", matrix[more], query)
        return np.concatenate([first, more]), np.concatenate([first_scores, more_scores])

    def _dots(
        self, query_codes: CodeArray, size: int, pool: Executor | None, workers: int
    ) -> FloatArray:
        query = query_codes[None, :]
        blocks = -(-size // PACK_BLOCK)
        if len(self.packed) < blocks:
            self.packed.extend([None] * (blocks - len(self.packed)))
        estimate = np.empty(size, dtype=np.float32)

        def part(first: int, last: int) -> None:
            for block in range(first, last):
                lo, hi = block * PACK_BLOCK, min(size, (block + 1) * PACK_BLOCK)
                packed = self.packed[block]
                if packed is None or packed[0] != hi - lo:
                    packed = (hi - lo, self.kernels.pack(self.codes[lo:hi]))
                    self.packed[block] = packed  # one reference swap: safe beside a reader
                found = np.asarray(self.kernels.dots(query, packed[1]))[0]
                estimate[lo:hi] = found

        parts = min(workers, size // SPLIT_ROWS, blocks) if pool is not None else 1
        if parts < 2:
            part(0, blocks)
            return estimate
        bounds = np.linspace(0, blocks, parts + 1, dtype=int).tolist()
        futures = [
            pool.submit(part, lo, hi)  # type: ignore[union-attr]
            for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True)
        ]
        # The calling thread takes the first part rather than waiting idle.
        part(0, bounds[1])
        for future in futures:
            future.result()
        return estimate
