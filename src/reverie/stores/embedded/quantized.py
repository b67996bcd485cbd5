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

The int8 dot products come from ``numkong``'s SIMD kernels (numpy has no fast int8 product);
without it the caller scans exactly in float32.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
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


def int8_dot() -> Callable[..., Any] | None:
    """numkong's ``cdist`` if it is installed and computes a known product correctly."""
    try:
        cdist = importlib.import_module("numkong").cdist
    except ImportError:
        return None
    left = np.array([[1, -2, 3]], dtype=np.int8)
    right = np.array([[4, 5, -6], [-7, 8, 9]], dtype=np.int8)
    try:
        found = np.asarray(cdist(left, right, metric="dot", out_dtype="float32")).tolist()
    except (TypeError, ValueError):  # e.g. a clashing build of the same kernels loaded first
        return None
    return cdist if found == [[-24.0, 4.0]] else None


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
    dot: Callable[..., Any]
    max_error: float = 0.0  # an upper bound of ``error`` (removals do not lower it)

    @classmethod
    def of(cls, matrix: FloatArray, size: int, dot: Callable[..., Any]) -> QuantizedRows:
        capacity, dims = matrix.shape
        found = cls(
            codes=np.zeros((capacity, dims), dtype=np.int8),
            scale=np.zeros(capacity, dtype=np.float32),
            error=np.zeros(capacity, dtype=np.float32),
            dot=dot,
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

    def clear_row(self, row: int) -> None:
        self.codes[row] = 0
        self.scale[row] = 0.0
        self.error[row] = 0.0

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

        def part(lo: int, hi: int) -> FloatArray:
            found = self.dot(query, self.codes[lo:hi], metric="dot", out_dtype="float32")
            row: FloatArray = np.asarray(found, dtype=np.float32)[0]
            return row

        parts = min(workers, size // SPLIT_ROWS) if pool is not None else 1
        if parts < 2:
            return part(0, size)
        bounds = np.linspace(0, size, parts + 1, dtype=int).tolist()
        futures = [
            pool.submit(part, lo, hi)  # type: ignore[union-attr]
            for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True)
        ]
        # The calling thread takes the first part rather than waiting idle.
        first = part(0, bounds[1])
        return np.concatenate([first, *(future.result() for future in futures)])
