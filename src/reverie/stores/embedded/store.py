"""``EmbeddedStore``: a LangGraph ``BaseStore`` on one local SQLite file with hybrid search.

Design, briefly:

- SQLite in WAL mode: readers never block the writer, and several processes may open the same
  file. Every ``batch`` that writes runs in one ``BEGIN IMMEDIATE`` transaction, so a crash leaves
  all of the batch or none of it, and two writers queue on the lock (``busy_timeout``) instead of
  failing half-way. A writer that waits too long gets :class:`StoreLockedError`.
- Reads and writes of one batch follow ``InMemoryStore``: gets, searches and listings see the
  state before the batch's puts; several puts to one key keep the last.
- Embedding happens before the write lock is taken, so a slow model never blocks other writers.
- Search: exact cosine over an in-memory matrix per namespace (see ``vectors``; large
  namespaces narrow the candidates with int8 codes first and stay exact, see ``quantized``),
  BM25 over an in-memory inverted index (see ``keyword``), fused by reciprocal rank (see
  ``ranking``), both cached per namespace (see ``cache``). Filters are applied to the ranked
  candidates, widening to the whole namespace when a selective filter needs it. With
  ``ann_threshold`` set, large namespaces take their vector candidates from an HNSW graph
  instead, rescored exactly and audited against exact ranking (see ``ann``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from reverie.core.errors import (
    ConfigurationError,
    EmbeddingError,
    InputError,
    NotAReverieStoreError,
    StoreError,
)
from reverie.stores.embedded import schema
from reverie.stores.embedded.ann import (
    MAX_CANDIDATES,
    BackgroundBuilder,
    recall_at,
    usearch_index,
)
from reverie.stores.embedded.cache import Addition, NamespaceCache, NamespaceEntry
from reverie.stores.embedded.filters import matches_filter, sql_prefilter, validate_filter
from reverie.stores.embedded.ranking import (
    SEARCH_MODES,
    SearchMode,
    reciprocal_rank_fusion,
    top_positions,
)
from reverie.stores.embedded.rows import (
    ITEM_COLUMNS,
    LIVE,
    NsWrite,
    Plan,
    PutPlan,
    Row,
    chunks,
    marks,
    namespace_matches,
    ns_path,
)
from reverie.stores.embedded.vectors import FloatArray
from reverie.stores.embedded.write_lock import CrossProcessWriteLock


class EmbeddedStore(BaseStore):
    """A persistent LangGraph store in one SQLite file, with hybrid vector + keyword search.

    Args:
        path: The store file (created with its parent folders if missing).
        index: LangGraph index config (``dims``, ``embed``, optional ``fields``). Without it the
            store is a plain key-value store and ``query`` is ignored, as in ``InMemoryStore``.
        ttl: LangGraph TTL config (``default_ttl`` minutes, ``refresh_on_read``,
            ``sweep_interval_minutes``). Expired items are never returned.
        search_mode: ``"hybrid"`` (default), ``"vector"`` or ``"keyword"``.
        busy_timeout: Seconds a writer waits for another process's write lock.
        cache_bytes: Upper bound for the in-process vector cache.
        ann_threshold: Namespaces with at least this many vectors are searched through an
            approximate nearest-neighbour graph (HNSW) whose candidates are rescored exactly;
            ``None`` or 0 (default) always ranks exactly. The graph of a large namespace is
            built in a background thread, and searches rank exactly until it is ready.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        search_mode: SearchMode = "hybrid",
        busy_timeout: float = 5.0,
        cache_bytes: int = 1 << 30,
        ann_threshold: int | None = None,
    ) -> None:
        if search_mode not in SEARCH_MODES:
            raise ConfigurationError(
                f"search_mode must be one of {', '.join(SEARCH_MODES)}; got {search_mode!r}."
            )
        self.path = Path(path).expanduser()
        self.search_mode: SearchMode = search_mode
        self.ttl_config = ttl
        self._lock = threading.RLock()
        self._write_lock: CrossProcessWriteLock | None = None
        self._closed = False
        self._ns_ids: dict[str, int] = {}
        self._last_sweep = 0.0
        self.index_config: IndexConfig | None = None
        self.embeddings: Embeddings | None = None
        self._fields: list[tuple[str, Any]] = []
        self.dims = 0
        if index:
            if not index.get("dims") or not index.get("embed"):
                raise ConfigurationError(
                    "An index config needs 'dims' (vector size) and 'embed' (an Embeddings "
                    "object, a function, or a 'provider:model' string)."
                )
            self.index_config = cast(IndexConfig, dict(index))
            self.embeddings = ensure_embeddings(index["embed"])
            self.dims = int(index["dims"])
            self._fields = [
                (p, tokenize_path(p) if p != "$" else p) for p in (index.get("fields") or ["$"])
            ]
        # Threads for splitting one large similarity product across cores (see ``vectors``).
        self._workers = max(1, min(4, os.cpu_count() or 1))
        self._pool = (
            ThreadPoolExecutor(self._workers, thread_name_prefix="reverie-search")
            if self._workers > 1
            else None
        )
        if ann_threshold is not None and ann_threshold < 0:
            raise ConfigurationError(
                f"ann_threshold must be a vector count >= 0 (0 or None: exact search only); "
                f"got {ann_threshold!r}."
            )
        self.ann_threshold = ann_threshold or None
        if self.ann_threshold:
            usearch_index()  # fail now, not at the first large search, if it is missing
        self._builder = BackgroundBuilder("reverie-ann") if self.ann_threshold else None
        self._conn = self._connect(busy_timeout)
        self._cache = NamespaceCache(self.dims, cache_bytes, self.ann_threshold, self._builder)
        if self.embeddings is not None:
            self._check_dims()

    # ----------------------------------------------------------------- opening

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        if sqlite3.sqlite_version_info < (3, 35, 0):
            raise ConfigurationError(
                f"The embedded store needs SQLite 3.35 or newer (for RETURNING); this Python "
                f"links SQLite {sqlite3.sqlite_version}. Use a newer Python build, or a "
                "postgresql:// store."
            )
        schema.check_file_kind(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            schema.refuse_foreign(conn, str(self.path))
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL under WAL: a process crash never loses a committed batch; only a power cut
            # may drop the last few, and the file stays consistent either way.
            conn.execute("PRAGMA synchronous = NORMAL")
            schema.ensure_schema(conn, str(self.path))
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and schema.is_lock_error(exc):
                raise schema.locked_error(str(self.path), exc) from exc
            raise NotAReverieStoreError(
                f"{self.path} cannot be read as a Reverie store ({exc}). Choose another path; "
                "the file was left untouched."
            ) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_dims(self) -> None:
        row = self._conn.execute("SELECT value FROM reverie_meta WHERE key = 'dims'").fetchone()
        if row is not None and int(row[0]) != self.dims:
            stored = int(row[0])
            self._conn.close()
            raise ConfigurationError(
                f"{self.path} holds {stored}-dimensional vectors but the index config says "
                f"dims={self.dims}. Open it with the embedding model it was written with, or "
                "use a new file for the new model."
            )

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the file. Further use raises :class:`StoreError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cache.clear()
                self._conn.close()
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                if self._builder is not None:
                    self._builder.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddedStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def reverie_write_lock(self) -> contextlib.AbstractContextManager[None]:
        """A lock across processes for read-check-write sequences (memory managers commit in it).

        Batches are atomic on their own; this makes a check in one batch and the write that
        depends on it in the next safe against other processes doing the same.
        """
        with self._lock:
            if self._write_lock is None:
                self._write_lock = CrossProcessWriteLock(self.path)
        return self._write_lock.hold()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r}, search_mode={self.search_mode!r})"

    # ----------------------------------------------------------------- batch API

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        embeddings = self.embeddings
        doc_vectors: list[list[float]] = []
        query_vectors: dict[str, list[float]] = {}
        if embeddings is not None:
            try:
                if plan.texts:
                    doc_vectors = embeddings.embed_documents(plan.texts)
                query_vectors = {q: embeddings.embed_query(q) for q in plan.queries}
            except Exception as exc:
                raise EmbeddingError(
                    f"The embedding model failed ({type(exc).__name__}: {exc}); nothing was "
                    "written. Check the model or the index config."
                ) from exc
        return self._execute(plan, doc_vectors, query_vectors)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        embeddings = self.embeddings
        doc_vectors: list[list[float]] = []
        query_vectors: dict[str, list[float]] = {}
        if embeddings is not None:
            try:
                if plan.texts:
                    doc_vectors = await embeddings.aembed_documents(plan.texts)
                if plan.queries:
                    found = await asyncio.gather(
                        *(embeddings.aembed_query(q) for q in plan.queries)
                    )
                    query_vectors = dict(zip(plan.queries, found, strict=True))
            except Exception as exc:
                raise EmbeddingError(
                    f"The embedding model failed ({type(exc).__name__}: {exc}); nothing was "
                    "written. Check the model or the index config."
                ) from exc
        return await asyncio.to_thread(self._execute, plan, doc_vectors, query_vectors)

    # ----------------------------------------------------------------- planning

    def _plan(self, ops: Iterable[Op]) -> Plan:
        op_list = list(ops)
        puts: dict[tuple[tuple[str, ...], str], PutPlan] = {}
        queries: dict[str, None] = {}
        for op in op_list:
            if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
                raise InputError(f"Unknown store operation {type(op).__name__}.")
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = self._plan_put(op)
            elif isinstance(op, SearchOp):
                validate_filter(op.filter)
                if op.query and self.embeddings is not None and self.search_mode != "keyword":
                    queries.setdefault(op.query, None)
        unique: dict[str, None] = {}
        for put in puts.values():
            for _, text in put.texts:
                unique.setdefault(text, None)
        return Plan(op_list, puts, list(unique), list(queries))

    def _plan_put(self, op: PutOp) -> PutPlan:
        if op.value is None:
            return PutPlan(op, None)
        if not op.namespace:
            raise InputError("A namespace needs at least one label, e.g. ('memories', 'user-1').")
        try:
            value_json = json.dumps(op.value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"The value for key {op.key!r} cannot be stored as JSON ({exc}); store plain "
                "dicts, lists, strings, numbers, booleans and None."
            ) from exc
        plan = PutPlan(op, value_json)
        if self.embeddings is None or op.index is False:
            return plan
        fields = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        for label, tokens in fields:
            texts = get_text_at_path(op.value, tokens)
            if len(texts) == 1:
                plan.texts.append((label, texts[0]))
            else:
                plan.texts.extend((f"{label}.{i}", t) for i, t in enumerate(texts))
        return plan

    # ----------------------------------------------------------------- execution

    def _execute(
        self,
        plan: Plan,
        doc_vectors: list[list[float]],
        query_vectors: dict[str, list[float]],
    ) -> list[Result]:
        vectors_by_text = self._vectors_by_text(plan.texts, doc_vectors)
        queries = {
            q: np.asarray(v, dtype=np.float32) / (float(np.linalg.norm(v)) or 1.0)
            for q, v in query_vectors.items()
        }
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed; open a new EmbeddedStore to use it.")
            conn = self._conn
            writes = bool(plan.puts)
            try:
                conn.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            except sqlite3.OperationalError as exc:
                if schema.is_lock_error(exc):
                    raise schema.locked_error(str(self.path), exc) from exc
                raise
            now = time.time()
            refresh: set[int] = set()
            new_ns: dict[str, int] = {}
            ns_writes: list[NsWrite] = []
            try:
                results: list[Result] = []
                for op in plan.ops:
                    if isinstance(op, GetOp):
                        results.append(self._get(op, now, refresh))
                    elif isinstance(op, SearchOp):
                        results.append(self._search(op, queries.get(op.query or ""), now, refresh))
                    elif isinstance(op, ListNamespacesOp):
                        results.append(self._list_namespaces(op, now))
                    else:
                        results.append(None)
                if writes:
                    ns_writes = self._apply_puts(plan, vectors_by_text, now, new_ns)
                    self._refresh_ttl(refresh, now)
                    self._maybe_sweep(now)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and schema.is_lock_error(exc):
                    raise schema.locked_error(str(self.path), exc) from exc
                raise
            self._ns_ids.update(new_ns)
            for w in ns_writes:
                self._cache.apply_own_write(w.ns_id, w.before, w.after, w.removed, w.added)
            if refresh and not writes:
                self._refresh_after_read(refresh, now)
        return results

    def _vectors_by_text(
        self, texts: list[str], vectors: list[list[float]]
    ) -> dict[str, FloatArray]:
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"The embedding model returned {len(vectors)} vectors for {len(texts)} texts; "
                "nothing was written."
            )
        if not texts:
            return {}
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dims:
            raise EmbeddingError(
                f"The embedding model returned vectors of shape {matrix.shape}, but the index "
                f"config says dims={self.dims}; nothing was written. Fix 'dims' in the index."
            )
        return dict(zip(texts, matrix, strict=True))

    # ----------------------------------------------------------------- reads

    def _ns_id(self, path: str) -> int | None:
        ns_id = self._ns_ids.get(path)
        if ns_id is None:
            row = self._conn.execute("SELECT id FROM namespaces WHERE path = ?", (path,)).fetchone()
            if row is not None:
                ns_id = self._ns_ids[path] = int(row[0])
        return ns_id

    def _get(self, op: GetOp, now: float, refresh: set[int]) -> Item | None:
        ns_id = self._ns_id(ns_path(op.namespace))
        if ns_id is None:
            return None
        row = self._conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM items i JOIN namespaces n ON n.id = i.ns_id "
            f"WHERE i.ns_id = ? AND i.key = ? AND {LIVE}",
            (ns_id, op.key, now),
        ).fetchone()
        if row is None:
            return None
        found = Row.from_sql(row)
        if op.refresh_ttl and found.ttl_minutes is not None:
            refresh.add(found.id)
        return found.item()

    def _namespaces_under(self, prefix: tuple[str, ...]) -> list[tuple[int, int]]:
        """(id, version) of every namespace equal to or below ``prefix``, in creation order."""
        if not prefix:
            rows = self._conn.execute("SELECT id, version FROM namespaces ORDER BY id")
        else:
            path = ns_path(prefix)
            # "/" sorts right after ".", so [path + ".", path + "/") is exactly the children.
            rows = self._conn.execute(
                "SELECT id, version FROM namespaces WHERE path = ? OR (path >= ? AND path < ?) "
                "ORDER BY id",
                (path, path + ".", path + "/"),
            )
        return [(int(a), int(b)) for a, b in rows]

    def _rows(self, ids: Sequence[int], now: float) -> dict[int, Row]:
        found: dict[int, Row] = {}
        for chunk in chunks(list(ids)):
            for row in self._conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM items i JOIN namespaces n ON n.id = i.ns_id "
                f"WHERE i.id IN ({marks(len(chunk))}) AND {LIVE}",
                (*chunk, now),
            ):
                found[row[0]] = Row.from_sql(row)
        return found

    def _scan(
        self,
        ns_ids: list[int],
        now: float,
        filter: dict[str, Any] | None,
        exclude: set[int] | None = None,
    ) -> Iterator[Row]:
        """Live items matching ``filter``, in store order (namespace creation, then insertion)."""
        where, params = sql_prefilter(filter, "i.value")
        where = f" AND {where}" if where else ""
        for ns_id in ns_ids:
            cursor = self._conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM items i JOIN namespaces n ON n.id = i.ns_id "
                f"WHERE i.ns_id = ? AND {LIVE}{where} ORDER BY i.id",
                (ns_id, now, *params),
            )
            for row in cursor:
                if exclude is None or row[0] not in exclude:
                    found = Row.from_sql(row)
                    if matches_filter(found.value, filter):
                        yield found

    def _search(
        self,
        op: SearchOp,
        query_vector: FloatArray | None,
        now: float,
        refresh: set[int],
    ) -> list[SearchItem]:
        if op.limit <= 0:
            return []
        namespaces = self._namespaces_under(op.namespace_prefix)
        if not namespaces:
            return []
        wanted = op.offset + op.limit
        kept: list[tuple[Row, float | None]] = []
        if op.query and self.embeddings is not None:
            pool: int | None = max(4 * wanted, 100)
            while True:
                ranked, complete = self._rank(op.query, query_vector, namespaces, pool)
                kept = self._take(ranked, op.filter, wanted, now)
                if len(kept) >= wanted or complete:
                    break
                pool = None  # a selective filter ate the pool: rank everything
            if len(kept) < wanted:
                # Items with nothing to rank by (e.g. stored with index=False) come last, in
                # store order, as in InMemoryStore.
                seen = {item_id for item_id, _ in ranked}
                for row in self._scan([n for n, _ in namespaces], now, op.filter, exclude=seen):
                    kept.append((row, None))
                    if len(kept) >= wanted:
                        break
        else:
            for row in self._scan([n for n, _ in namespaces], now, op.filter):
                kept.append((row, None))
                if len(kept) >= wanted:
                    break
        page = kept[op.offset : wanted]
        if op.refresh_ttl:
            refresh.update(row.id for row, _ in page if row.ttl_minutes is not None)
        return [row.search_item(score) for row, score in page]

    def _take(
        self,
        ranked: list[tuple[int, float]],
        filter: dict[str, Any] | None,
        wanted: int,
        now: float,
    ) -> list[tuple[Row, float | None]]:
        kept: list[tuple[Row, float | None]] = []
        # Without a filter nearly every ranked row is kept: read only what the page needs.
        step = wanted if filter is None else max(wanted, 32)
        for start in range(0, len(ranked), step):
            chunk = ranked[start : start + step]
            rows = self._rows([i for i, _ in chunk], now)
            for item_id, score in chunk:
                row = rows.get(item_id)
                if row is not None and matches_filter(row.value, filter):
                    kept.append((row, score))
                    if len(kept) >= wanted:
                        return kept
        return kept

    def _entries(self, namespaces: list[tuple[int, int]]) -> list[NamespaceEntry]:
        return [self._cache.get(self._conn, ns_id, version) for ns_id, version in namespaces]

    @staticmethod
    def _ranking(
        parts: list[tuple[Any, Any]], pool: int | None
    ) -> tuple[list[tuple[int, float]], bool]:
        """Merge per-namespace (ids, scores) into one best-first list of at most ``pool``."""
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return [], True
        if len(parts) == 1:
            ids, scores = parts[0]
            tiebreak = ids
        else:
            ids = np.concatenate([p[0] for p in parts])
            scores = np.concatenate([p[1] for p in parts])
            # Store order across namespaces: namespace position first, then item id.
            owner = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
            tiebreak = np.argsort(np.lexsort((ids, owner)))
        positions = top_positions(scores, tiebreak, pool)
        complete = pool is None or len(positions) >= len(ids)
        return list(zip(ids[positions].tolist(), scores[positions].tolist(), strict=True)), complete

    def _rank(
        self,
        query: str,
        query_vector: FloatArray | None,
        namespaces: list[tuple[int, int]],
        pool: int | None,
    ) -> tuple[list[tuple[int, float]], bool]:
        """Best-first (item id, score) and whether every scoreable item is in the list."""
        entries = self._entries(namespaces)
        vector: list[tuple[int, float]] = []
        vector_complete = True
        if self.search_mode != "keyword" and query_vector is not None:
            parts, partial = self._vector_scores(entries, query_vector, pool)
            vector, vector_complete = self._ranking(parts, pool)
            # Candidates are a subset: never let them pass for the whole namespace, so a
            # filter that leaves too few of them widens to ranking everything.
            vector_complete = vector_complete and not partial
        if self.search_mode == "vector":
            return vector, vector_complete
        hits, keyword_complete = self._ranking(
            [e.keyword_index(self._conn).scores(query) for e in entries], pool
        )
        if self.search_mode == "keyword":
            return hits, keyword_complete
        fused = reciprocal_rank_fusion(
            [i for i, _ in vector],
            [i for i, _ in hits],
            vector_missing_rank=len(vector) + 1,
        )
        return fused, vector_complete and keyword_complete

    def _vector_scores(
        self, entries: list[NamespaceEntry], query_vector: FloatArray, pool: int | None
    ) -> tuple[list[tuple[Any, Any]], bool]:
        """Per-namespace (ids, exact cosines), and whether any namespace gave only a subset of its
        items (graph candidates, or the int8-narrowed candidates of a top-``pool`` search)."""
        parts: list[tuple[Any, Any]] = []
        partial = False
        for entry in entries:
            if not entry.vectors.size:
                continue
            if pool is None:
                parts.append(entry.vectors.scores(query_vector, self._pool, self._workers))
                continue
            graph = (
                self._cache.graph(entry) if pool <= MAX_CANDIDATES and self.ann_threshold else None
            )
            found = None
            if graph is not None:
                found = entry.vectors.scores_at(graph.candidates(query_vector, pool), query_vector)
                if not entry.graph.audit_due():
                    parts.append(found)
                    partial = True
                    continue
            # Exact top ``pool`` (int8-narrowed in large namespaces); it also audits the
            # graph now and then, and answers that search exactly.
            ids, scores, whole = entry.vectors.top_scores(
                query_vector, pool, self._pool, self._workers
            )
            if found is not None:
                entry.graph.audited(recall_at(found, (ids, scores)))
            parts.append((ids, scores))
            partial = partial or not whole
        return parts, partial

    def _list_namespaces(self, op: ListNamespacesOp, now: float) -> list[tuple[str, ...]]:
        rows = self._conn.execute(
            "SELECT n.path FROM namespaces n WHERE EXISTS (SELECT 1 FROM items i "
            f"WHERE i.ns_id = n.id AND {LIVE})",
            (now,),
        ).fetchall()
        found = [tuple(r[0].split(".")) for r in rows]
        conditions = op.match_conditions or ()
        found = [ns for ns in found if all(namespace_matches(c, ns) for c in conditions)]
        if op.max_depth is not None:
            found = list({ns[: op.max_depth] for ns in found})
        found.sort()
        return found[op.offset : op.offset + op.limit]

    # ----------------------------------------------------------------- writes

    def _namespace_for_write(self, path: str, new_ns: dict[str, int]) -> int:
        ns_id = new_ns.get(path) or self._ns_id(path)
        if ns_id is None:
            row = self._conn.execute(
                "INSERT INTO namespaces(path) VALUES (?) RETURNING id", (path,)
            ).fetchone()
            ns_id = new_ns[path] = int(row[0])
        return ns_id

    def _apply_puts(
        self,
        plan: Plan,
        vectors_by_text: dict[str, FloatArray],
        now: float,
        new_ns: dict[str, int],
    ) -> list[NsWrite]:
        """Write every put of the batch: one upsert (or delete) per item, then set-wise
        statements for the vectors and the namespaces' write counters."""
        conn = self._conn
        ns_of: dict[str, int] = {}
        ids: dict[tuple[int, str], int] = {}
        removed: dict[int, list[int]] = defaultdict(list)
        stored: list[tuple[int, PutPlan]] = []
        upsert = (
            "INSERT INTO items(ns_id, key, value, created_at, updated_at, body, ttl_minutes, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ns_id, key) DO UPDATE "
            "SET value = excluded.value, updated_at = excluded.updated_at, "
            "body = excluded.body, ttl_minutes = excluded.ttl_minutes, "
            "expires_at = excluded.expires_at RETURNING id"
        )
        for (namespace, key), put in plan.puts.items():
            path = ns_path(namespace)
            ns_id = ns_of.get(path)
            if ns_id is None:
                ns_id = ns_of[path] = self._namespace_for_write(path, new_ns)
            if put.value_json is None:
                row = conn.execute(
                    "DELETE FROM items WHERE ns_id = ? AND key = ? RETURNING id", (ns_id, key)
                ).fetchone()
                if row is not None:
                    removed[ns_id].append(int(row[0]))
                continue
            ttl = put.op.ttl
            row = conn.execute(
                upsert,
                (
                    ns_id,
                    key,
                    put.value_json,
                    now,
                    now,
                    put.body,
                    ttl,
                    None if ttl is None else now + 60.0 * ttl,
                ),
            ).fetchone()
            item_id = ids[(ns_id, key)] = int(row[0])
            # An overwrite replaces the item's vectors; for a new item this removes nothing.
            removed[ns_id].append(item_id)
            stored.append((ns_id, put))
        stale = [i for group in removed.values() for i in group]
        for chunk in chunks(stale):
            conn.execute(f"DELETE FROM vectors WHERE item_id IN ({marks(len(chunk))})", chunk)
        added: dict[int, list[Addition]] = defaultdict(list)
        vector_rows: list[tuple[int, int, str, bytes]] = []
        for ns_id, p in stored:
            if not p.texts:
                continue
            item_id = ids[(ns_id, p.op.key)]
            vectors = [vectors_by_text[text] for _, text in p.texts]
            matrix = vectors[0][None, :] if len(vectors) == 1 else np.stack(vectors)
            added[ns_id].append(Addition(item_id, matrix, p.body or ""))
            vector_rows.extend(
                (ns_id, item_id, label, vectors[i].tobytes())
                for i, (label, _) in enumerate(p.texts)
            )
        conn.executemany(
            "INSERT INTO vectors(ns_id, item_id, path, embedding) VALUES (?, ?, ?, ?)",
            vector_rows,
        )
        if vector_rows:
            self._record_dims()
        touched = sorted(set(ns_of.values()))
        before: dict[int, int] = {}
        for chunk in chunks(touched):
            before.update(
                conn.execute(
                    f"SELECT id, version FROM namespaces WHERE id IN ({marks(len(chunk))})", chunk
                ).fetchall()
            )
        conn.executemany(
            "UPDATE namespaces SET version = version + 1 WHERE id = ?", [(n,) for n in touched]
        )
        return [
            NsWrite(n, before[n], before[n] + 1, removed.get(n, []), added.get(n, []))
            for n in touched
        ]

    def _record_dims(self) -> None:
        self._conn.execute(
            "INSERT INTO reverie_meta(key, value) VALUES ('dims', ?) ON CONFLICT(key) DO NOTHING",
            (str(self.dims),),
        )

    # ----------------------------------------------------------------- TTL

    def _refresh_ttl(self, ids: set[int], now: float) -> None:
        for chunk in chunks(sorted(ids)):
            self._conn.execute(
                "UPDATE items SET expires_at = ? + 60.0 * ttl_minutes WHERE ttl_minutes IS NOT "
                f"NULL AND id IN ({marks(len(chunk))})",
                (now, *chunk),
            )

    def _refresh_after_read(self, ids: set[int], now: float) -> None:
        """Extend read items' lifetimes; best effort, a busy writer just makes us skip it."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return
        try:
            self._refresh_ttl(ids, now)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _maybe_sweep(self, now: float) -> None:
        interval = (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        if now - self._last_sweep < 60.0 * interval:
            return
        self._last_sweep = now
        self._sweep(now)

    def _sweep(self, now: float) -> int:
        conn = self._conn
        expired = conn.execute(
            "SELECT id, ns_id FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        ).fetchall()
        by_ns: dict[int, list[int]] = defaultdict(list)
        for item_id, ns_id in expired:
            by_ns[ns_id].append(item_id)
        for ns_id, ids in by_ns.items():
            for chunk in chunks(ids):
                holes = marks(len(chunk))
                conn.execute(f"DELETE FROM vectors WHERE item_id IN ({holes})", chunk)
                conn.execute(f"DELETE FROM items WHERE id IN ({holes})", chunk)
            conn.execute("UPDATE namespaces SET version = version + 1 WHERE id = ?", (ns_id,))
            self._cache.discard(ns_id)
        return len(expired)

    def restore_timestamps(self, items: Iterable[Item]) -> None:
        """Set stored items' ``created_at`` / ``updated_at`` to those of ``items`` (an import
        keeping an export's times); items not in the store are ignored."""
        rows = [
            (i.created_at.timestamp(), i.updated_at.timestamp(), i.key, ns_path(i.namespace))
            for i in items
        ]
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise schema.locked_error(str(self.path), exc) from exc
            try:
                self._conn.executemany(
                    "UPDATE items SET created_at = ?, updated_at = ? WHERE key = ? AND ns_id = "
                    "(SELECT id FROM namespaces WHERE path = ?)",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def sweep_ttl(self) -> int:
        """Delete every expired item now; returns how many were removed."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise schema.locked_error(str(self.path), exc) from exc
            try:
                removed = self._sweep(time.time())
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return removed
