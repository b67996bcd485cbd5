"""The store file: opening it (WAL, schema, dims check), and the transactions every step runs in.

One ``sqlite3`` connection per store object, shared by its threads under one re-entrant lock.
Writes run in ``BEGIN IMMEDIATE`` transactions: SQLite's write lock is the lock across
processes, a writer queues on it for ``busy_timeout`` seconds and then gets
:class:`StoreLockedError`, and a process killed mid-transaction leaves nothing of it behind.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from reverie.core.errors import ConfigurationError, NotAReverieStoreError, StoreError
from reverie.stores.embedded import schema


class Transaction:
    """An open transaction; :meth:`abandon` makes it roll back instead of committing."""

    def __init__(self) -> None:
        self.abandoned = False

    def abandon(self) -> None:
        self.abandoned = True


class StoreFile:
    """The open SQLite file of one store object.

    ``conn`` is only used while holding ``lock`` (see :meth:`session`); every component reads it
    through this object at call time, so there is exactly one connection to swap or close.
    """

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.closed = False
        self.conn = _connect(path, busy_timeout)

    @contextlib.contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        """Exclusive use of the connection by this thread (re-entrant)."""
        with self.lock:
            if self.closed:
                raise StoreError(f"{self.path} is closed; open a new EmbeddedStore to use it.")
            yield self.conn

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[Transaction]:
        """One transaction: ``BEGIN IMMEDIATE`` (takes SQLite's write lock now) when ``write``,
        else a read snapshot. Commits on success, rolls back on error or when abandoned."""
        with self.session() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                if schema.is_lock_error(exc):
                    raise self._locked(exc) from exc
                raise
            tx = Transaction()
            try:
                yield tx
                conn.execute("ROLLBACK" if tx.abandoned else "COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and schema.is_lock_error(exc):
                    raise self._locked(exc) from exc
                raise

    @contextlib.contextmanager
    def write_if_free(self) -> Iterator[bool]:
        """A write transaction for best-effort bookkeeping: yields False (and writes nothing)
        when another writer held SQLite's lock past the busy timeout."""
        with self.session() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                yield False
                return
            try:
                yield True
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def check_dims(self, dims: int) -> None:
        """Refuse an index config whose vector size differs from the file's vectors."""
        row = self.conn.execute("SELECT value FROM reverie_meta WHERE key = 'dims'").fetchone()
        if row is not None and int(row[0]) != dims:
            self.conn.close()
            raise ConfigurationError(
                f"{self.path} holds {int(row[0])}-dimensional vectors but the index config says "
                f"dims={dims}. Open it with the embedding model it was written with, or use a "
                "new file for the new model."
            )

    def close(self) -> bool:
        """Close the connection; False if it was already closed. The caller holds ``lock``."""
        if self.closed:
            return False
        self.closed = True
        self.conn.close()
        return True

    def _locked(self, exc: sqlite3.OperationalError) -> StoreError:
        return schema.locked_error(str(self.path), exc)


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    if sqlite3.sqlite_version_info < (3, 35, 0):
        raise ConfigurationError(
            f"The embedded store needs SQLite 3.35 or newer (for RETURNING); this Python "
            f"links SQLite {sqlite3.sqlite_version}. Use a newer Python build, or a "
            "postgresql:// store."
        )
    schema.check_file_kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        schema.refuse_foreign(conn, str(path))
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL under WAL: a process crash never loses a committed transaction; only a power
        # cut may drop the last few, and the file stays consistent either way.
        conn.execute("PRAGMA synchronous = NORMAL")
        schema.ensure_schema(conn, str(path))
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and schema.is_lock_error(exc):
            raise schema.locked_error(str(path), exc) from exc
        raise NotAReverieStoreError(
            f"{path} cannot be read as a Reverie store ({exc}). Choose another path; "
            "the file was left untouched."
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn
