"""The on-disk layout of an embedded store, how a file is recognised, and how it is migrated.

A store file is an ordinary SQLite database. ``reverie_meta`` marks it as ours (``application =
reverie``) and ``reverie_schema`` records every migration step applied, so a file written by an
older release is upgraded in place (inside one transaction) and a file from a newer release is
refused instead of being misread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reverie.core.errors import NotAReverieStoreError, SchemaVersionError, StoreLockedError

APPLICATION = "reverie"
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Migration:
    """One step that takes a file from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _create_v1(conn: sqlite3.Connection) -> None:
    # Namespaces are stored once, as their labels joined by "." (LangGraph forbids "." inside a
    # label), so a namespace prefix is a cheap range scan. ``version`` counts writes to the
    # namespace; processes compare it with their in-memory vector cache to see others' writes.
    run_script(
        conn,
        """
        CREATE TABLE namespaces (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            version INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            ns_id INTEGER NOT NULL REFERENCES namespaces(id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            -- the embedded text, kept for keyword search (NULL when the item is not indexed)
            body TEXT,
            ttl_minutes REAL,
            expires_at REAL,
            UNIQUE (ns_id, key)
        );
        -- Index entries end with the rowid, so this also yields (namespace, insertion) order.
        CREATE INDEX items_by_ns ON items(ns_id);
        CREATE INDEX items_expiry ON items(expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE vectors (
            id INTEGER PRIMARY KEY,
            ns_id INTEGER NOT NULL,
            item_id INTEGER NOT NULL,
            path TEXT NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX vectors_by_ns ON vectors(ns_id, item_id);
        CREATE INDEX vectors_by_item ON vectors(item_id);
        """,
    )


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the current transaction.

    (``executescript`` would commit first, breaking the all-or-nothing migration.)
    """
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    for statement in "\n".join(lines).split(";"):
        if statement.strip():
            conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "initial layout", _create_v1),)
CURRENT_VERSION = MIGRATIONS[-1].version


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def check_file_kind(path: Path) -> None:
    """Refuse a file that is not SQLite before SQLite gets a chance to mangle it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise NotAReverieStoreError(
            f"{path} is a directory; give the path of a store file such as {path / 'memories.db'}."
        )
    with path.open("rb") as fh:
        header = fh.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        raise NotAReverieStoreError(
            f"{path} is not a SQLite database, so it cannot be a Reverie store. "
            "Choose another path; the file was left untouched."
        )


def schema_version(conn: sqlite3.Connection) -> int:
    if not _has_table(conn, "reverie_schema"):
        return 0
    row = conn.execute("SELECT MAX(version) FROM reverie_schema").fetchone()
    return int(row[0] or 0)


def _is_reverie(conn: sqlite3.Connection) -> bool:
    if not _has_table(conn, "reverie_meta"):
        return False
    row = conn.execute("SELECT value FROM reverie_meta WHERE key = 'application'").fetchone()
    return row is not None and row[0] == APPLICATION


def _user_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return [r[0] for r in rows]


def refuse_foreign(conn: sqlite3.Connection, where: str) -> None:
    """Raise before touching a database that another program wrote (not even its journal mode)."""
    if not _is_reverie(conn) and _user_tables(conn):
        raise NotAReverieStoreError(
            f"{where} is a SQLite database written by another program (tables: "
            f"{', '.join(sorted(_user_tables(conn))[:5])}). Choose another path; "
            "the file was left untouched."
        )


def ensure_schema(
    conn: sqlite3.Connection,
    where: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Create or upgrade the layout; return the resulting version.

    Runs under ``BEGIN IMMEDIATE`` so two processes opening a new file at once cannot both
    create it, and a failing step leaves the file exactly as it was.
    """
    target = migrations[-1].version if migrations else 0
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise locked_error(where, exc) from exc
    try:
        if not _is_reverie(conn):
            refuse_foreign(conn, where)
            conn.execute("CREATE TABLE reverie_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(
                "CREATE TABLE reverie_schema (version INTEGER PRIMARY KEY, description TEXT, "
                "applied_at REAL NOT NULL)"
            )
            conn.execute("INSERT INTO reverie_meta VALUES ('application', ?)", (APPLICATION,))
        current = schema_version(conn)
        if current > target:
            raise SchemaVersionError(
                f"{where} uses store schema version {current}, but this Reverie release only "
                f"knows versions up to {target}. Upgrade Reverie (pip install -U reverie) to "
                "open it; the file was left untouched."
            )
        for step in migrations:
            if step.version <= current:
                continue
            step.apply(conn)
            conn.execute(
                "INSERT INTO reverie_schema VALUES (?, ?, ?)",
                (step.version, step.description, time.time()),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return target


def locked_error(where: str, exc: BaseException) -> StoreLockedError:
    return StoreLockedError(
        f"{where} is locked by another process that has been writing for longer than the "
        f"busy timeout ({exc}). Wait for that process to finish, or open the store with a larger "
        "busy_timeout; nothing was written."
    )


def is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
