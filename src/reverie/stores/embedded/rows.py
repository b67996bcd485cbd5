"""Row shapes and small SQL helpers shared by the embedded store's read and write paths."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import Item, MatchCondition, PutOp, SearchItem

from reverie.core.errors import InputError
from reverie.core.ports import PortOp
from reverie.stores.embedded.cache import Addition
from reverie.stores.embedded.episodes import ItemContext

CHUNK = 900  # stays under SQLite's bound-parameter limit on every build
ITEM_COLUMNS = "i.id, n.path, i.key, i.value, i.created_at, i.updated_at, i.ttl_minutes"
LIVE = "(i.expires_at IS NULL OR i.expires_at > ?)"


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(count: int) -> str:
    return ",".join("?" * count)


def ns_path(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@dataclass
class Row:
    id: int
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: float
    updated_at: float
    ttl_minutes: float | None

    @classmethod
    def from_sql(cls, row: tuple[Any, ...]) -> Row:
        return cls(
            id=row[0],
            namespace=tuple(row[1].split(".")),
            key=row[2],
            value=json.loads(row[3]),
            created_at=row[4],
            updated_at=row[5],
            ttl_minutes=row[6],
        )

    def item(self) -> Item:
        return Item(
            value=self.value,
            key=self.key,
            namespace=self.namespace,
            created_at=timestamp(self.created_at),
            updated_at=timestamp(self.updated_at),
        )

    def search_item(self, score: float | None) -> SearchItem:
        return SearchItem(
            namespace=self.namespace,
            key=self.key,
            value=self.value,
            created_at=timestamp(self.created_at),
            updated_at=timestamp(self.updated_at),
            score=score,
        )


@dataclass
class PutPlan:
    op: PutOp
    value_json: str | None
    texts: list[tuple[str, str]] = field(default_factory=list)  # (path label, text) embedded
    keyword_texts: list[str] = field(default_factory=list)
    restored: tuple[float, float] | None = None  # (created_at, updated_at) an import keeps
    context: ItemContext = (None, None, None)  # (episode, position, speaker)

    @property
    def body(self) -> str | None:
        """The text keyword search sees: every keyword-indexed text of the item."""
        return "\n".join(self.keyword_texts) if self.keyword_texts else None


@dataclass(frozen=True)
class FindsNothing:
    """In a plan, a read of a namespace or key no write could have made (a NUL character or a
    lone surrogate in it, say): its result, without asking SQLite, which cannot even encode
    a lone surrogate."""

    result: list[Any] | None


@dataclass
class Plan:
    ops: list[PortOp | FindsNothing]
    puts: dict[tuple[tuple[str, ...], str], PutPlan]
    texts: list[str]
    queries: list[str]  # the texts embedded for the searches' queries
    # query -> the text embedded for it, where that is not the query itself
    vector_texts: dict[str, str] = field(default_factory=dict)

    def vector_text(self, query: str | None) -> str:
        return self.vector_texts.get(query or "", query or "")


@dataclass
class NsWrite:
    ns_id: int
    before: int
    after: int
    removed: list[int]
    added: list[Addition]


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    pattern = tuple(condition.path)
    if len(namespace) < len(pattern):
        return False
    if condition.match_type == "prefix":
        window = namespace[: len(pattern)]
    elif condition.match_type == "suffix":
        window = namespace[len(namespace) - len(pattern) :]
    else:
        raise InputError(f"Unsupported namespace match type {condition.match_type!r}.")
    return all(p == "*" or p == label for p, label in zip(pattern, window, strict=True))
