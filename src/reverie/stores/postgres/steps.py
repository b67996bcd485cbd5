"""The steps a store operation is written in, so its logic exists once for sync and async.

Every operation (a batch, a commit, a migration, a sweep) is a *plan*: a generator that yields
steps and receives each step's answer. ``rows = yield from Sql(query, params)`` runs a statement
and hands back its rows; ``vectors = yield from Embed(texts)`` embeds texts; ``yield from
Transaction()`` makes every later statement of the plan one transaction, committed when the plan
returns and rolled back if it raises. The sync and async runners (``runner.py``) only perform
steps: they decide nothing.

A plan embeds before its first statement, or after ``yield from Release()``, so embedding never
holds a connection, a transaction or a lock.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

T = TypeVar("T")

Row = dict[str, Any]
"""A result row, column name to value (the pool's connections use ``dict_row``)."""


@dataclass(frozen=True)
class Sql:
    """Run one statement; the plan receives its rows (``[]`` for statements without any)."""

    query: str
    params: Sequence[Any] = ()

    def __iter__(self) -> Generator[Step, Any, list[Row]]:
        rows = yield self
        return cast(list[Row], rows)


@dataclass(frozen=True)
class Embed:
    """Embed ``texts`` (documents, or search queries with ``query=True``); the plan receives one
    vector per text, in order."""

    texts: tuple[str, ...]
    query: bool = False

    def __iter__(self) -> Generator[Step, Any, list[list[float]]]:
        if not self.texts:
            return []
        vectors = yield self
        return cast(list[list[float]], vectors)


@dataclass(frozen=True)
class Transaction:
    """Run the rest of the plan in one transaction."""

    def __iter__(self) -> Generator[Step, Any, None]:
        yield self


@dataclass(frozen=True)
class Release:
    """Hand the connection back (committing what it did) before a slow step, such as embedding
    a query after reading what decides its text; the next statement takes one again."""

    def __iter__(self) -> Generator[Step, Any, None]:
        yield self


Step = Sql | Embed | Transaction | Release
Plan = Generator[Step, Any, T]
