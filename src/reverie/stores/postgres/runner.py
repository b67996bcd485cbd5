"""Performing plans (``steps.py``) on a connection pool: blocking, or on an event loop.

The runners hold no logic of their own. A connection is taken from the pool at a plan's first
statement (so embedding, which comes first, holds none) and handed back when the plan ends or
releases it.
Errors become typed Reverie errors: an unreachable server or a broken connection is a
:class:`StoreError` saying the server is unavailable (the pool reconnects by itself once it is
back); a value PostgreSQL cannot store, a constraint or a row over its size limits is an
:class:`InputError`, which retrying cannot fix.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

import psycopg
from langchain_core.embeddings import Embeddings
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from reverie.core.errors import InputError, ReverieError, StoreError
from reverie.stores.postgres.steps import Embed, Plan, Release, Sql, Step, Transaction

T = TypeVar("T")


class SyncRunner:
    """Performs plans by blocking on ``pool`` and ``embeddings``."""

    def __init__(
        self,
        pool: ConnectionPool[psycopg.Connection[Any]],
        embeddings: Embeddings | None,
        where: str,
    ) -> None:
        self.pool = pool
        self.embeddings = embeddings
        self.where = where

    def run(self, plan: Plan[T]) -> T:
        with translated_errors(self.where), contextlib.ExitStack() as held:
            conn: psycopg.Connection[Any] | None = None
            try:
                step = next(plan)
                while True:
                    if isinstance(step, Embed):
                        reply: Any = self._embed(step)
                    elif isinstance(step, Release):
                        held.close()  # commits a transaction, returns the connection
                        conn, reply = None, None
                    else:
                        if conn is None:
                            conn = held.enter_context(self.pool.connection())
                        reply = _perform(conn, step, held)
                    step = plan.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def _embed(self, step: Embed) -> list[list[float]]:
        embeddings = _require(self.embeddings)
        if step.query:
            return [embeddings.embed_query(text) for text in step.texts]
        return _checked(embeddings.embed_documents(list(step.texts)), step)


class AsyncRunner:
    """Performs plans by awaiting ``pool`` and ``embeddings`` on the running event loop."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        embeddings: Embeddings | None,
        where: str,
    ) -> None:
        self.pool = pool
        self.embeddings = embeddings
        self.where = where

    async def run(self, plan: Plan[T]) -> T:
        with translated_errors(self.where):
            async with contextlib.AsyncExitStack() as held:
                conn: psycopg.AsyncConnection[Any] | None = None
                try:
                    step = next(plan)
                    while True:
                        if isinstance(step, Embed):
                            reply: Any = await self._embed(step)
                        elif isinstance(step, Release):
                            await held.aclose()  # commits a transaction, returns the connection
                            conn, reply = None, None
                        else:
                            if conn is None:
                                conn = await held.enter_async_context(self.pool.connection())
                            reply = await _aperform(conn, step, held)
                        step = plan.send(reply)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]

    async def _embed(self, step: Embed) -> list[list[float]]:
        embeddings = _require(self.embeddings)
        if step.query:
            return list(await asyncio.gather(*(embeddings.aembed_query(t) for t in step.texts)))
        return _checked(await embeddings.aembed_documents(list(step.texts)), step)


def _perform(conn: psycopg.Connection[Any], step: Step, held: contextlib.ExitStack) -> Any:
    if isinstance(step, Transaction):
        held.enter_context(conn.transaction())
        return None
    assert isinstance(step, Sql)
    cursor = conn.execute(step.query, step.params)
    return cursor.fetchall() if cursor.description is not None else []


async def _aperform(
    conn: psycopg.AsyncConnection[Any], step: Step, held: contextlib.AsyncExitStack
) -> Any:
    if isinstance(step, Transaction):
        await held.enter_async_context(conn.transaction())
        return None
    assert isinstance(step, Sql)
    cursor = await conn.execute(step.query, step.params)
    return await cursor.fetchall() if cursor.description is not None else []


def _require(embeddings: Embeddings | None) -> Embeddings:
    if embeddings is None:  # plans only embed for stores opened with an index
        raise StoreError("This store has no index config, so it cannot embed texts.")
    return embeddings


def _checked(vectors: list[list[float]], step: Embed) -> list[list[float]]:
    if len(vectors) != len(step.texts):
        raise StoreError(
            f"The embedding model returned {len(vectors)} vectors for {len(step.texts)} texts; "
            "check the model configured in the store's index config."
        )
    return vectors


@contextlib.contextmanager
def translated_errors(where: str) -> Iterator[None]:
    """Turn psycopg's errors into typed Reverie errors saying what to do."""
    try:
        yield
    except (psycopg.Error, PoolTimeout) as exc:
        raise translated(exc, where) from exc


# SQLSTATE classes of errors in the input itself, which no retry can fix: data exceptions (a
# value PostgreSQL cannot represent), integrity constraints, program limits (a row too large
# for an index). psycopg reports the last as OperationalError, like an outage.
_INPUT_CLASSES = {"22": "cannot store this value", "23": "refused this write"}
_LIMIT_CLASS = "54"


def translated(exc: BaseException, where: str) -> ReverieError:
    """The typed error for a psycopg failure: an input error (never retried), a transient
    conflict or outage (retry), or a refusal (fix the database or its permissions)."""
    state = str(getattr(exc, "sqlstate", None) or "")
    reason = _first_line(exc)
    if isinstance(exc, psycopg.errors.TransactionRollback) or state.startswith("40"):
        return StoreError(
            f"PostgreSQL at {where} rolled the operation back because it conflicted with a "
            f"concurrent transaction ({reason}). Nothing of it was applied; retry it."
        )
    if isinstance(exc, psycopg.DataError) and not state:
        # Refused by psycopg before sending (a NUL in a text parameter), so no SQLSTATE.
        return InputError(
            f"PostgreSQL cannot take this input ({reason}). Remove NUL characters (\\u0000) "
            "from keys, namespace labels, filters and queries; nothing was written. Retrying "
            "it will fail the same way."
        )
    if state[:2] in _INPUT_CLASSES:
        return InputError(
            f"PostgreSQL {_INPUT_CLASSES[state[:2]]} ({reason}). Remove NUL characters "
            "(\\u0000) and non-finite numbers (NaN, Infinity) from values; nothing was written. "
            "This is a problem with the input: retrying it will fail the same way."
        )
    if state.startswith(_LIMIT_CLASS):
        return InputError(
            f"PostgreSQL refused this input as too large ({reason}). A namespace and key "
            "together must stay under about 2,700 bytes (Reverie's Limits.max_label_bytes, "
            "max_namespace_depth and max_key_bytes keep writes below it); nothing was written. "
            "Retrying it will fail the same way."
        )
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout):
        return _unavailable(where, exc)
    return StoreError(
        f"PostgreSQL at {where} refused the operation ({reason}). Check that the "
        "database holds a Reverie or LangGraph store and the user may read and write it."
    )


def _unavailable(where: str, exc: BaseException) -> StoreError:
    return StoreError(
        f"PostgreSQL at {where} is unavailable ({_first_line(exc)}). The operation may not have "
        "been applied; retry it once the server is back (the connection pool reconnects by "
        "itself)."
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
