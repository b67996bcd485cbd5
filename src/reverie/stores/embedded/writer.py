"""Writing items: upserts and deletes with their vectors, namespace write counters, patching this
process's search caches after a commit, and checked commits (the storage port's ``commit``).

A checked commit is one ``BEGIN IMMEDIATE`` transaction: read what the writer expects, check it,
then write everything or nothing. SQLite's write lock makes the check and the writes atomic
against every other writer of the file, in this process or another. Embeddings were computed
before (see ``embedding``), so the lock is held only for SQL.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langgraph.store.base import Item

from reverie.core.ports import CommitResult, Expectation
from reverie.core.requests import never_written
from reverie.stores.embedded.cache import Addition, NamespaceCache
from reverie.stores.embedded.database import StoreFile
from reverie.stores.embedded.items import ItemReader
from reverie.stores.embedded.namespaces import Namespaces
from reverie.stores.embedded.rows import NsWrite, Plan, PutPlan, chunks, marks, ns_path
from reverie.stores.embedded.ttl import Expiry
from reverie.stores.embedded.vectors import FloatArray

_INSERT = (
    "INSERT INTO items(ns_id, key, value, created_at, updated_at, body, ttl_minutes, "
    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ns_id, key) DO UPDATE "
    "SET value = excluded.value, updated_at = excluded.updated_at, body = excluded.body, "
    "ttl_minutes = excluded.ttl_minutes, expires_at = excluded.expires_at"
)
UPSERT = f"{_INSERT} RETURNING id"  # an overwrite keeps the item's created_at
RESTORE = f"{_INSERT}, created_at = excluded.created_at RETURNING id"  # an import sets both


@dataclass
class Applied:
    """What a transaction wrote, for :meth:`Writer.publish` once it committed."""

    created: dict[str, int]  # namespaces inserted: path -> id
    touched: list[NsWrite]
    dropped: list[int]  # namespaces whose last item went: their rows are gone too


class Writer:
    """Writes on ``db``. :meth:`apply` runs inside the caller's write transaction;
    :meth:`commit` opens its own."""

    def __init__(
        self,
        db: StoreFile,
        namespaces: Namespaces,
        reader: ItemReader,
        cache: NamespaceCache,
        expiry: Expiry,
        dims: int,
    ) -> None:
        self.db = db
        self.namespaces = namespaces
        self.reader = reader
        self.cache = cache
        self.expiry = expiry
        self.dims = dims

    def commit(
        self, expected: Sequence[Expectation], plan: Plan, vectors: dict[str, FloatArray]
    ) -> CommitResult:
        """Check ``expected`` and apply ``plan`` in one transaction, or write nothing."""
        with self.db.session():
            with self.db.transaction(write=True) as tx:
                now = time.time()
                conflicts = tuple(e for e in expected if not e.holds(self._current(e, now)))
                if conflicts:
                    tx.abandon()
                    return CommitResult(False, conflicts)
                applied = self.apply(plan, vectors, now)
            self.publish(applied)
        return CommitResult(True)

    def _current(self, expectation: Expectation, now: float) -> Item | None:
        """The item as a read would return it now (same timestamps), None if absent."""
        if never_written(expectation.namespace, expectation.key):
            return None  # absent, as in a read (SQLite cannot even encode a lone surrogate)
        row = self.reader.get(tuple(expectation.namespace), expectation.key, now)
        return None if row is None else row.item()

    def apply(self, plan: Plan, vectors: dict[str, FloatArray], now: float) -> Applied:
        """Write every put of ``plan``: one upsert (or delete) per item, then set-wise
        statements for the vectors and the namespaces' write counters."""
        conn = self.db.conn
        created: dict[str, int] = {}
        ns_of: dict[str, int] = {}
        ids: dict[tuple[int, str], int] = {}
        removed: dict[int, list[int]] = defaultdict(list)
        stored: list[tuple[int, PutPlan]] = []
        for (namespace, key), put in plan.puts.items():
            path = ns_path(namespace)
            ns_id = ns_of.get(path)
            if ns_id is None:
                ns_id = ns_of[path] = self.namespaces.for_write(path, created)
            item_id = self.write_item(ns_id, put, now)
            if item_id is None:
                continue
            # An overwrite replaces the item's vectors; for a new item this removes nothing.
            removed[ns_id].append(item_id)
            if put.value_json is not None:
                ids[(ns_id, key)] = item_id
                stored.append((ns_id, put))
        stale = [i for group in removed.values() for i in group]
        for chunk in chunks(stale):
            conn.execute(f"DELETE FROM vectors WHERE item_id IN ({marks(len(chunk))})", chunk)
        added = self._add_vectors(stored, ids, vectors)
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
        dropped = self._drop_emptied(sorted(n for n, group in removed.items() if group))
        self.expiry.sweep_if_due(now)
        return Applied(
            created,
            [
                NsWrite(n, before[n], before[n] + 1, removed.get(n, []), added.get(n, []))
                for n in touched
                if n not in dropped
            ],
            dropped,
        )

    def _drop_emptied(self, candidates: list[int]) -> list[int]:
        """Remove the rows of namespaces left without items: a namespace's path names its user,
        and an erased user must leave nothing behind (an empty namespace is never listed)."""
        dropped: list[int] = []
        for chunk in chunks(candidates):
            dropped += [
                int(row[0])
                for row in self.db.conn.execute(
                    f"DELETE FROM namespaces WHERE id IN ({marks(len(chunk))}) AND NOT EXISTS "
                    "(SELECT 1 FROM items i WHERE i.ns_id = namespaces.id) RETURNING id",
                    chunk,
                )
            ]
        return dropped

    def write_item(self, ns_id: int, put: PutPlan, now: float) -> int | None:
        """Upsert or delete one item row; its id (None: the delete found no item)."""
        conn = self.db.conn
        if put.value_json is None:
            row = conn.execute(
                "DELETE FROM items WHERE ns_id = ? AND key = ? RETURNING id", (ns_id, put.op.key)
            ).fetchone()
            return None if row is None else int(row[0])
        ttl = put.op.ttl
        created_at, updated_at = put.restored or (now, now)
        row = conn.execute(
            RESTORE if put.restored else UPSERT,
            (
                ns_id,
                put.op.key,
                put.value_json,
                created_at,
                updated_at,
                put.body,
                ttl,
                None if ttl is None else now + 60.0 * ttl,
            ),
        ).fetchone()
        return int(row[0])

    def _add_vectors(
        self,
        stored: list[tuple[int, PutPlan]],
        ids: dict[tuple[int, str], int],
        vectors: dict[str, FloatArray],
    ) -> dict[int, list[Addition]]:
        """Insert the vectors of the items just written; returns what the caches must add (also
        for items indexed by keywords only), per namespace."""
        added: dict[int, list[Addition]] = defaultdict(list)
        vector_rows: list[tuple[int, int, str, bytes]] = []
        for ns_id, p in stored:
            if not p.texts and not p.keyword_texts:
                continue
            item_id = ids[(ns_id, p.op.key)]
            rows = [vectors[text] for _, text in p.texts]
            if not rows:  # keyword-indexed only
                empty = np.empty((0, self.dims), dtype=np.float32)
                added[ns_id].append(Addition(item_id, empty, p.body or "", p.context))
                continue
            matrix = rows[0][None, :] if len(rows) == 1 else np.stack(rows)
            added[ns_id].append(Addition(item_id, matrix, p.body or "", p.context))
            vector_rows.extend(
                (ns_id, item_id, label, rows[i].tobytes()) for i, (label, _) in enumerate(p.texts)
            )
        self.db.conn.executemany(
            "INSERT INTO vectors(ns_id, item_id, path, embedding) VALUES (?, ?, ?, ?)",
            vector_rows,
        )
        if vector_rows:
            self.db.conn.execute(
                "INSERT INTO reverie_meta(key, value) VALUES ('dims', ?) "
                "ON CONFLICT(key) DO NOTHING",
                (str(self.dims),),
            )
        return added

    def publish(self, applied: Applied) -> None:
        """After the commit: patch this process's caches."""
        for w in applied.touched:
            self.cache.apply_own_write(w.ns_id, w.before, w.after, w.removed, w.added)
        for ns_id in applied.dropped:
            self.cache.discard(ns_id)
