"""Per-namespace search structures held in process memory, kept in step with the file.

Each entry holds a namespace's vector matrix and (built on first keyword search) its BM25 index,
tagged with the namespace's write counter (``namespaces.version``). A search that reads a
different counter from the file reloads the entry: that is how one process sees another's
writes. This process's own committed writes patch the entry in place instead, so put-then-search
loops stay cheap. Entries are evicted least recently used beyond a byte budget.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from reverie.core.indexing import EpisodeFields
from reverie.stores.embedded.ann import GraphSlot, NamespaceGraph
from reverie.stores.embedded.episodes import ItemContext, NamespaceEpisodes
from reverie.stores.embedded.keyword import NamespaceKeywords
from reverie.stores.embedded.vectors import FloatArray, NamespaceVectors


@dataclass
class Addition:
    item_id: int
    vectors: FloatArray  # no rows: the item is keyword-indexed only
    text: str  # what keyword search sees ("": nothing)
    context: ItemContext = (None, None, None)


@dataclass
class NamespaceEntry:
    ns_id: int
    version: int
    vectors: NamespaceVectors
    keywords: NamespaceKeywords | None = None
    graph: GraphSlot = field(default_factory=GraphSlot)
    episodes: NamespaceEpisodes | None = None

    @property
    def nbytes(self) -> int:
        keywords = self.keywords.nbytes if self.keywords is not None else 0
        episodes = self.episodes.nbytes if self.episodes is not None else 0
        return self.vectors.nbytes + keywords + episodes + self.graph.nbytes

    def episode_index(self, conn: sqlite3.Connection, fields: EpisodeFields) -> NamespaceEpisodes:
        if self.episodes is None:
            self.episodes = NamespaceEpisodes.load(conn, self.ns_id, fields)
        return self.episodes

    def keyword_index(self, conn: sqlite3.Connection) -> NamespaceKeywords:
        if self.keywords is None:
            rows = conn.execute(
                "SELECT id, body FROM items WHERE ns_id = ? AND body IS NOT NULL ORDER BY id",
                (self.ns_id,),
            ).fetchall()
            self.keywords = NamespaceKeywords.build(rows)
        return self.keywords


class NamespaceCache:
    """Namespace id -> :class:`NamespaceEntry`, bounded by an approximate byte budget.

    Namespaces with at least ``ann_threshold`` live vectors (None or 0: never) also get an
    approximate nearest-neighbour graph (see ``ann``); large graphs are built in ``builder``.
    """

    def __init__(
        self,
        dims: int,
        max_bytes: int,
        ann_threshold: int | None = None,
        builder: Executor | None = None,
    ) -> None:
        self.dims = dims
        self.max_bytes = max_bytes
        self.ann_threshold = ann_threshold
        self.builder = builder
        self._entries: OrderedDict[int, NamespaceEntry] = OrderedDict()

    def graph(self, entry: NamespaceEntry) -> NamespaceGraph | None:
        """The entry's graph if one can serve a search now (may start building one)."""
        return entry.graph.ready(entry.vectors, self.ann_threshold, self.builder)

    def get(self, conn: sqlite3.Connection, ns_id: int, version: int) -> NamespaceEntry:
        entry = self._entries.get(ns_id)
        if entry is None or entry.version != version:
            if entry is not None:
                entry.graph.abandon()
            entry = NamespaceEntry(ns_id, version, self._load_vectors(conn, ns_id, version))
            self._entries[ns_id] = entry
            self._evict(keep=ns_id)
        self._entries.move_to_end(ns_id)
        return entry

    def _load_vectors(self, conn: sqlite3.Connection, ns_id: int, version: int) -> NamespaceVectors:
        rows = conn.execute(
            "SELECT item_id, embedding FROM vectors WHERE ns_id = ? ORDER BY item_id, id", (ns_id,)
        ).fetchall()
        if not rows:
            return NamespaceVectors(
                version=version, dims=self.dims, matrix=np.empty((0, self.dims), dtype=np.float32)
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
                dropped = self._entries.pop(ns_id)
                dropped.graph.abandon()
                total -= dropped.nbytes

    def apply_own_write(
        self,
        ns_id: int,
        before: int,
        after: int,
        removed: Sequence[int],
        added: Sequence[Addition],
    ) -> None:
        """Patch an entry after this process's committed write, or drop it if it was stale."""
        entry = self._entries.get(ns_id)
        if entry is None:
            return
        if entry.version != before:
            self.discard(ns_id)
            return
        vectors, keywords, graph = entry.vectors, entry.keywords, entry.graph
        episodes = entry.episodes
        for item_id in removed:
            graph.removed(vectors.remove(item_id))
            if keywords is not None:
                keywords.remove(item_id)
            if episodes is not None:
                episodes.remove(item_id)
        for add in added:
            if len(add.vectors):
                graph.added(vectors, vectors.add(add.item_id, add.vectors))
            if keywords is not None and add.text:
                keywords.add(add.item_id, add.text)
            if episodes is not None and (add.text or len(add.vectors)):
                episodes.add(add.item_id, add.context)
        entry.version = vectors.version = after
        if vectors.dead > 1024 and vectors.dead > vectors.size // 2:
            self.discard(ns_id)  # reload compactly on next use

    def discard(self, ns_id: int) -> None:
        entry = self._entries.pop(ns_id, None)
        if entry is not None:
            entry.graph.abandon()

    def clear(self) -> None:
        for entry in self._entries.values():
            entry.graph.abandon()
        self._entries.clear()
