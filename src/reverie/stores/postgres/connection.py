"""Connecting to PostgreSQL: checking the server, database and pgvector, with clear errors.

Every failure a user can fix (server down, database missing, pgvector missing, an index whose
dimensions differ from the stored vectors) becomes a typed error saying what to do. Passwords
never appear in messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from reverie.core.errors import ConfigurationError, StoreError

START_HINT = "For a local test server run `bash scripts/postgres.sh start` (as root)."
INSTALL_HINT = (
    "Install pgvector for this PostgreSQL (Debian/Ubuntu: `apt-get install "
    "postgresql-<major>-pgvector`; or `bash scripts/postgres.sh install` from the Reverie "
    "repository, which builds it from source), then run `CREATE EXTENSION vector;`."
)
# pgvector releases from 0.8.0 on can keep scanning an HNSW index until enough rows pass a filter.
ITERATIVE_SCAN_SINCE = (0, 8, 0)
# One key for every Reverie process: setup() runs migrations one process at a time.
SETUP_LOCK_KEY = 0x5245564552494500  # "REVERIE\0"

_PASSWORD_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(url: str) -> str:
    """The connection string with any password replaced by ``***``."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.hostname or ""
            if ":" in host:  # an IPv6 literal
                host = f"[{host}]"
            netloc = f"{parts.username or ''}:***@{host}"
            if parts.port is not None:
                netloc += f":{parts.port}"
            parts = parts._replace(netloc=netloc)
        query = _PASSWORD_KV.sub(r"\1***", parts.query.replace("&", " ")).replace(" ", "&")
        return urlunsplit(parts._replace(query=query))
    return _PASSWORD_KV.sub(r"\1***", url)


def database_name(url: str) -> str:
    try:
        return str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "")
    except psycopg.ProgrammingError:
        return ""


def connection_error(url: str, exc: Exception) -> Exception:
    """Turn a failed connection attempt into a typed error saying what to do."""
    where = redact(url)
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    text = str(exc)
    if "does not exist" in text and "database" in text:
        name = database_name(url) or "named in the URL"
        return ConfigurationError(
            f'Database "{name}" does not exist on the PostgreSQL server at {where}. Create it '
            f'(`CREATE DATABASE "{name}";` or `createdb {name}`) or point the URL at an '
            "existing database."
        )
    if "authentication failed" in text or "no pg_hba.conf entry" in text:
        return ConfigurationError(
            f"PostgreSQL at {where} refused the credentials ({reason}). Check the user name and "
            "password in the URL."
        )
    return StoreError(
        f"Cannot connect to PostgreSQL at {where}: {reason}. Check that the server is running "
        f"and reachable. {START_HINT}"
    )


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@dataclass(frozen=True)
class ServerInfo:
    """What Reverie learned about the server while checking it."""

    pgvector_version: tuple[int, ...]

    @property
    def iterative_scan(self) -> bool:
        return self.pgvector_version >= ITERATIVE_SCAN_SINCE


def _ensure_vector_extension(conn: psycopg.Connection[Any], where: str) -> tuple[int, ...]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if row is not None:
        return parse_version(str(row[0]))
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if available is None:
        raise ConfigurationError(
            f"The pgvector extension is not installed on the PostgreSQL server at {where}. "
            + INSTALL_HINT
        )
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigurationError(
            f"The pgvector extension is installed on the server at {where} but not enabled in "
            "this database, and this user may not enable it. Ask the database owner to run "
            "`CREATE EXTENSION vector;` in it."
        ) from exc
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return parse_version(str(row[0])) if row else ()


def _check_dims(conn: psycopg.Connection[Any], where: str, dims: int | None) -> None:
    """Refuse an index config whose dimensions differ from the vectors already stored."""
    if not dims:
        return
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding'"
    ).fetchone()
    if row is None:
        return
    stored = parse_version(str(row[0]))
    if stored and stored[0] != dims:
        raise ConfigurationError(
            f"The database at {where} holds {stored[0]}-dimensional embeddings, but the index "
            f"config asks for {dims}. Use the embedding model the memories were written with, "
            "or another database or schema."
        )


def check_server(url: str, *, dims: int | None, connect_timeout: float) -> ServerInfo:
    """Connect once and check everything a store needs, raising typed errors."""
    where = redact(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
    except psycopg.Error as exc:
        raise connection_error(url, exc) from exc
    with conn:
        version = _ensure_vector_extension(conn, where)
        _check_dims(conn, where, dims)
    return ServerInfo(pgvector_version=version)


async def acheck_server(url: str, *, dims: int | None, connect_timeout: float) -> ServerInfo:
    """:func:`check_server` for async callers, without blocking the event loop."""
    return await asyncio.to_thread(check_server, url, dims=dims, connect_timeout=connect_timeout)


@contextlib.contextmanager
def setup_lock(url: str, connect_timeout: float) -> Iterator[None]:
    """Hold a server-wide advisory lock so concurrent processes run migrations one at a time."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
    except psycopg.Error as exc:
        raise connection_error(url, exc) from exc
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


@contextlib.asynccontextmanager
async def asetup_lock(url: str, connect_timeout: float) -> AsyncIterator[None]:
    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=max(1, int(connect_timeout))
        )
    except psycopg.Error as exc:
        raise connection_error(url, exc) from exc
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
