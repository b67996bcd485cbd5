"""Namespaces in the file: ids, prefix lookups, listing, creation.

A namespace is stored once as its labels joined by "." (labels may not contain "."), with a
write counter (``version``) that searches compare with their cached indexes. A namespace whose
last item is deleted loses its row (see ``writer``), and is given a new id if written again, so
ids are looked up, not remembered across transactions: another process may have dropped one.
"""

from __future__ import annotations

from langgraph.store.base import ListNamespacesOp

from reverie.stores.embedded.database import StoreFile
from reverie.stores.embedded.rows import LIVE, namespace_matches, ns_path

Versioned = tuple[int, int]  # (namespace id, write counter)
_LAST_ID = "last_namespace_id"  # reverie_meta key: the highest namespace id ever given out


class Namespaces:
    """Namespace lookups on ``db``; callers hold its session or a transaction."""

    def __init__(self, db: StoreFile) -> None:
        self.db = db

    def id_of(self, path: str) -> int | None:
        """The id of the namespace at ``path`` (dotted), None if it holds nothing."""
        row = self.db.conn.execute("SELECT id FROM namespaces WHERE path = ?", (path,)).fetchone()
        return None if row is None else int(row[0])

    def exactly(self, namespace: tuple[str, ...]) -> list[Versioned]:
        """``[(id, version)]`` of ``namespace`` itself, or ``[]``."""
        if not namespace:
            return []
        row = self.db.conn.execute(
            "SELECT id, version FROM namespaces WHERE path = ?", (ns_path(namespace),)
        ).fetchone()
        return [] if row is None else [(int(row[0]), int(row[1]))]

    def under(self, prefix: tuple[str, ...]) -> list[Versioned]:
        """(id, version) of every namespace equal to or below ``prefix``, in creation order."""
        conn = self.db.conn
        if not prefix:
            rows = conn.execute("SELECT id, version FROM namespaces ORDER BY id")
        else:
            path = ns_path(prefix)
            # "/" sorts right after ".", so [path + ".", path + "/") is exactly the children.
            rows = conn.execute(
                "SELECT id, version FROM namespaces WHERE path = ? OR (path >= ? AND path < ?) "
                "ORDER BY id",
                (path, path + ".", path + "/"),
            )
        return [(int(a), int(b)) for a, b in rows]

    def for_write(self, path: str, created: dict[str, int]) -> int:
        """The id of ``path``, inserting the namespace if new (recorded in ``created``, so one
        transaction inserts it once)."""
        ns_id = created.get(path) or self.id_of(path)
        if ns_id is None:
            ns_id = created[path] = self._unused_id()
            self.db.conn.execute("INSERT INTO namespaces(id, path) VALUES (?, ?)", (ns_id, path))
        return ns_id

    def _unused_id(self) -> int:
        """An id no namespace of this file ever had. SQLite would hand an erased namespace's id
        to the next one created, and a process caching the erased one under (id, version)
        could then take it for the new one (whose version restarts at 0)."""
        conn = self.db.conn
        (highest,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM namespaces").fetchone()
        row = conn.execute(f"SELECT value FROM reverie_meta WHERE key = '{_LAST_ID}'").fetchone()
        unused = max(int(highest), int(row[0]) if row else 0) + 1
        conn.execute(
            "INSERT INTO reverie_meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_LAST_ID, str(unused)),
        )
        return unused

    def listing(self, op: ListNamespacesOp, now: float) -> list[tuple[str, ...]]:
        """``ListNamespacesOp``: namespaces holding a live item (empty ones are not listed)."""
        rows = self.db.conn.execute(
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
