"""An approximate nearest-neighbour graph (HNSW, from ``usearch``) over a namespace's vectors.

Exact cosine reads the whole matrix per query, so its cost grows with the namespace. For large
namespaces the graph proposes a candidate set, and the candidates are then scored exactly from
the float32 matrix, so every returned score is the exact cosine; only recall is approximate.

Keys in the graph are matrix row numbers: rows are only ever appended or tombstoned (see
``vectors``), so a row number never changes meaning within one cached entry. The graph stores
half-precision copies of the rows (half the memory, and candidates are rescored anyway).

Graphs do well on embeddings, which cluster by topic, and badly on structureless data (random
vectors). So the first ``AUDIT_MIN`` searches of a graph, then every ``AUDIT_EVERY``-th, are
also ranked exactly (and answered from the exact ranking); when the recall@10 seen by recent
audits is below ``MIN_RECALL`` the namespace's graph is dropped and it is searched exactly
from then on.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from reverie.core.errors import ConfigurationError
from reverie.stores.embedded.vectors import FloatArray, IntArray, NamespaceVectors

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 128
# Below this many rows a build is quick enough to run on the searching thread.
SYNC_BUILD_ROWS = 5_000
# The first rows of a build are inserted on one thread (see ``NamespaceGraph.build``).
SERIAL_ROWS = 10_000
BUILD_CHUNK = 10_000  # rows added between checks for a cancelled build
# Candidates asked of the graph per ranked row wanted: half-precision distances blur the order
# near the cut, and the rescoring restores it.
CANDIDATE_FACTOR = 2
# Above this many wanted candidates (a deep offset) the graph saves little: rank exactly.
MAX_CANDIDATES = 2_000

if TYPE_CHECKING:
    from usearch.index import Index

# Recall audits: how often, how many recent ones count, and the recall a graph must keep.
AUDIT_EVERY = 100
AUDIT_WINDOW = 8
AUDIT_MIN = 4
MIN_RECALL = 0.95
AUDIT_K = 10

P = ParamSpec("P")
T = TypeVar("T")
HalfArray = npt.NDArray[np.float16]
Scores = tuple[IntArray, FloatArray]


def recall_at(found: Scores, exact: Scores, k: int = AUDIT_K) -> float:
    """Share of the exact ranking's top ``k`` items that ``found``'s top ``k`` holds."""

    def top(ids: IntArray, scores: FloatArray) -> set[int]:
        if len(ids) <= k:
            return set(ids.tolist())
        return set(ids[np.argpartition(-scores, k - 1)[:k]].tolist())

    truth = top(*exact)
    return len(truth & top(*found)) / len(truth) if truth else 1.0


def usearch_index() -> type[Index]:
    """``usearch``'s index class, imported only when a store asks for graphs."""
    try:
        from usearch.index import Index
    except ImportError as exc:
        raise ConfigurationError(
            "ann_threshold needs the 'usearch' package (pip install usearch); or leave "
            "ann_threshold unset for exact search."
        ) from exc
    return Index


class NamespaceGraph:
    """An HNSW graph over rows ``[0, rows)`` of a :class:`NamespaceVectors` matrix."""

    def __init__(self, index: Index, rows: int) -> None:
        self.index = index
        self.rows = rows  # rows at or beyond this number have not been offered to the graph

    @classmethod
    def build(
        cls,
        dims: int,
        keys: IntArray,
        rows: HalfArray,
        total_rows: int,
        cancelled: threading.Event | None = None,
    ) -> NamespaceGraph | None:
        """A graph of ``rows`` under ``keys``; None if ``cancelled`` was set during the build
        (checked between chunks, so closing a store never waits long for a build)."""
        index_class = usearch_index()
        index = index_class(
            ndim=dims,
            metric="ip",
            dtype="f16",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        # Parallel inserts into a nearly empty graph can leave it badly connected (seen as
        # whole clusters missing from results), so the first rows go in one at a time.
        head = min(len(keys), SERIAL_ROWS)
        if head:
            index.add(keys[:head], rows[:head], threads=1)
        for start in range(head, len(keys), BUILD_CHUNK):
            if cancelled is not None and cancelled.is_set():
                return None
            end = start + BUILD_CHUNK
            index.add(keys[start:end], rows[start:end], threads=0)
        return cls(index, total_rows)

    @property
    def nbytes(self) -> int:
        return int(self.index.memory_usage)

    def catch_up(self, vectors: NamespaceVectors) -> None:
        """Add rows appended since the graph was built and drop rows removed since then."""
        ids = vectors.ids
        dead = np.flatnonzero(ids[: self.rows] < 0)
        if len(dead):
            self.index.remove(dead)
        self.add_rows(vectors, range(self.rows, vectors.size))

    def add_rows(self, vectors: NamespaceVectors, rows: range) -> None:
        keys = np.arange(rows.start, rows.stop, dtype=np.int64)
        keys = keys[vectors.ids[keys] >= 0]
        if len(keys):
            self.index.add(keys, vectors.matrix[keys].astype(np.float16), threads=1)
        self.rows = max(self.rows, rows.stop)

    def remove_rows(self, rows: list[int]) -> None:
        if rows:
            self.index.remove(np.asarray(rows, dtype=np.int64))

    def candidates(self, query: FloatArray, count: int) -> IntArray:
        """Row numbers of about ``CANDIDATE_FACTOR * count`` rows near ``query`` (unordered)."""
        count *= CANDIDATE_FACTOR
        self.index.expansion_search = max(EXPANSION_SEARCH, 2 * count)  # type: ignore[misc]
        found = self.index.search(query.astype(np.float16), count, threads=1)
        return np.asarray(found.keys, dtype=np.int64)


class GraphSlot:
    """The graph of one cached namespace: absent, being built, or ready."""

    def __init__(self) -> None:
        self.graph: NamespaceGraph | None = None
        self.pending: Future[NamespaceGraph | None] | None = None
        self._cancelled = threading.Event()
        self.off = False  # given up: the build failed, or audits found recall too low
        self.searches = 0
        self.recalls: deque[float] = deque(maxlen=AUDIT_WINDOW)

    @property
    def nbytes(self) -> int:
        return self.graph.nbytes if self.graph is not None else 0

    def ready(
        self, vectors: NamespaceVectors, threshold: int | None, builder: Executor | None
    ) -> NamespaceGraph | None:
        """The graph if it can serve a search now; starts a build when the namespace is big
        enough. While a large build runs in ``builder`` the caller ranks exactly."""
        if self.graph is not None or self.off:
            return self.graph
        if self.pending is not None:
            if not self.pending.done():
                return None
            try:
                graph = self.pending.result()
            except Exception as exc:  # e.g. out of memory: exact ranking still works
                self.off = True
                warnings.warn(
                    f"Building the approximate search graph failed ({type(exc).__name__}: "
                    f"{exc}); this namespace is searched exactly.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return None
            finally:
                self.pending = None
            if graph is None:
                return None
            graph.catch_up(vectors)
            self.graph = graph
            return graph
        if not threshold or vectors.size - vectors.dead < threshold:
            return None
        keys = np.flatnonzero(vectors.ids[: vectors.size] >= 0).astype(np.int64)
        # The half-precision copy is also the snapshot the build reads, so later in-place
        # changes to the matrix cannot race with a background build.
        rows = vectors.matrix[keys].astype(np.float16)
        if builder is None or len(keys) < SYNC_BUILD_ROWS:
            self.graph = NamespaceGraph.build(vectors.dims, keys, rows, vectors.size)
            return self.graph
        self.pending = builder.submit(
            NamespaceGraph.build, vectors.dims, keys, rows, vectors.size, self._cancelled
        )
        return None

    def audit_due(self) -> bool:
        """Whether this search of the graph should also be ranked exactly (counts searches).

        The first few searches are all audited, so a poor graph is dropped at once; later
        ones rarely, so audits stay out of the latency percentiles that matter.
        """
        self.searches += 1
        return self.searches <= AUDIT_MIN or self.searches % AUDIT_EVERY == 0

    def audited(self, recall: float) -> None:
        """Record an audit; drop the graph if recent audits show too low a recall."""
        self.recalls.append(recall)
        if len(self.recalls) >= AUDIT_MIN and float(np.mean(self.recalls)) < MIN_RECALL:
            self.graph = None
            self.off = True

    def abandon(self) -> None:
        """Stop a build still queued or running (the entry it was for is gone)."""
        self._cancelled.set()
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None

    def removed(self, rows: list[int]) -> None:
        if self.graph is not None:
            self.graph.remove_rows(rows)

    def added(self, vectors: NamespaceVectors, rows: range) -> None:
        if self.graph is not None:
            self.graph.add_rows(vectors, rows)


class BackgroundBuilder(Executor):
    """Runs submitted builds one at a time on a daemon thread.

    A ``ThreadPoolExecutor``'s threads are joined at interpreter exit, so a process that ends
    without closing its store would wait out a build of tens of seconds. A daemon thread does
    not hold the process open, and nothing is lost: a graph is only a cache, rebuilt when next
    needed.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot build after the store was closed")
            self._jobs.put((future, lambda: fn(*args, **kwargs)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, call = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:  # handed to whoever reads the future
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is not None:
                        job[0].cancel()
            self._jobs.put(None)
            thread = self._thread
        if wait and thread is not None:
            thread.join()
