"""A namespace's vectors as one normalised float32 matrix, for exact cosine similarity.

Exact similarity is a single matrix-vector product over the namespace's rows, far cheaper than
reading blobs from SQLite on every search. Rows are appended and tombstoned in place so this
process's own writes never force a reload (see ``cache``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def normalise(rows: FloatArray) -> FloatArray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (rows / norms).astype(np.float32, copy=False)


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

    @classmethod
    def build(cls, version: int, dims: int, ids: IntArray, matrix: FloatArray) -> NamespaceVectors:
        entry = cls(version=version, dims=dims, ids=ids, matrix=normalise(matrix), size=len(ids))
        for row, item_id in enumerate(ids.tolist()):
            entry.rows_of.setdefault(item_id, []).append(row)
        return entry

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.ids.nbytes)

    @property
    def single_vector_items(self) -> bool:
        return len(self.rows_of) == self.size - self.dead

    def remove(self, item_id: int) -> None:
        for row in self.rows_of.pop(item_id, []):
            self.ids[row] = -1
            self.matrix[row] = 0.0
            self.dead += 1

    def add(self, item_id: int, vectors: FloatArray) -> None:
        needed = self.size + len(vectors)
        if needed > len(self.ids):
            # Grow geometrically so a stream of single puts costs amortised O(1) copies.
            capacity = max(needed, 2 * len(self.ids), 64)
            ids = np.full(capacity, -1, dtype=np.int64)
            ids[: self.size] = self.ids[: self.size]
            matrix = np.zeros((capacity, self.dims), dtype=np.float32)
            matrix[: self.size] = self.matrix[: self.size]
            self.ids, self.matrix = ids, matrix
        rows = list(range(self.size, needed))
        self.ids[rows] = item_id
        self.matrix[rows] = normalise(vectors)
        self.size = needed
        self.rows_of.setdefault(item_id, []).extend(rows)

    def scores(self, query: FloatArray) -> tuple[IntArray, FloatArray]:
        """(item id, best cosine) for every live item; an item with several vectors keeps its max."""
        ids = self.ids[: self.size]
        # einsum runs one SIMD loop on the calling thread. BLAS's threaded matvec is no faster
        # here (it is memory-bound) and stalls badly when other processes hold the cores.
        sims = np.einsum("ij,j->i", self.matrix[: self.size], query)
        if self.dead:
            live = ids >= 0
            ids, sims = ids[live], sims[live]
        if self.single_vector_items:
            return ids, sims
        order = np.lexsort((-sims, ids))
        ids, sims = ids[order], sims[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        return ids[first], sims[first]
