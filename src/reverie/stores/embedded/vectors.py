"""In-process cache of each namespace's vectors as one normalised float32 matrix.

Exact cosine similarity is a single matrix-vector product over the namespace's rows, far cheaper
than reading blobs from SQLite on every search. A namespace's entry remembers the namespace's
write counter (``namespaces.version``); a search that finds a different counter in the file
reloads the entry, which is how one process sees another's writes. This process's own writes
patch the entry in place (append / tombstone) so put-then-search loops do not reload.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Sequence
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
        sims = self.matrix[: self.size] @ query
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


class VectorCache:
    """Namespace id -> :class:`NamespaceVectors`, bounded by total bytes (least recently used out)."""

    def __init__(self, dims: int, max_bytes: int) -> None:
        self.dims = dims
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, NamespaceVectors] = OrderedDict()

    def get(self, conn: sqlite3.Connection, ns_id: int, version: int) -> NamespaceVectors:
        entry = self._entries.get(ns_id)
        if entry is None or entry.version != version:
            entry = self._load(conn, ns_id, version)
            self._entries[ns_id] = entry
            self._evict(keep=ns_id)
        self._entries.move_to_end(ns_id)
        return entry

    def _load(self, conn: sqlite3.Connection, ns_id: int, version: int) -> NamespaceVectors:
        rows = conn.execute(
            "SELECT item_id, embedding FROM vectors WHERE ns_id = ? ORDER BY item_id, id", (ns_id,)
        ).fetchall()
        if not rows:
            return NamespaceVectors(
                version=version,
                dims=self.dims,
                matrix=np.empty((0, self.dims), dtype=np.float32),
            )
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return NamespaceVectors.build(version, self.dims, ids, matrix.reshape(len(rows), self.dims))

    def _evict(self, keep: int) -> None:
        total = sum(e.nbytes for e in self._entries.values())
        for ns_id in list(self._entries):
            if total <= self.max_bytes:
                break
            if ns_id != keep:
                total -= self._entries.pop(ns_id).nbytes

    def apply_own_write(
        self,
        ns_id: int,
        before: int,
        after: int,
        removed: Iterable[int],
        added: Sequence[tuple[int, FloatArray]],
    ) -> None:
        """Patch an entry after this process's committed write, or drop it if it was stale."""
        entry = self._entries.get(ns_id)
        if entry is None:
            return
        if entry.version != before:
            del self._entries[ns_id]
            return
        for item_id in removed:
            entry.remove(item_id)
        for item_id, vectors in added:
            entry.add(item_id, vectors)
        entry.version = after
        if entry.dead > 1024 and entry.dead > entry.size // 2:
            del self._entries[ns_id]  # reload compactly on next use

    def discard(self, ns_id: int) -> None:
        self._entries.pop(ns_id, None)

    def clear(self) -> None:
        self._entries.clear()
