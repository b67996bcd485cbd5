"""Searching memory in time: "as of" a date, by event-time range, newer facts first if asked.

Without any of these a search is the plain current-state search (``ledger.search``), at no
extra cost. With them, the current memories are read together with their time records, and an
``as_of`` search also searches the closed versions (see ``ledger.timeline``) that were true at
that moment. Both are ranked in one search (``NamespaceSearch.also``): in one pool where the store
can, otherwise merged by score. A closed version is indexed with the texts its memory was, so
ranked by vector alone it scores as the memory it was (docs/time.md says when; hybrid and keyword
ranking take word statistics over every version kept, true then or not).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from langgraph.store.base import GetOp, Item, SearchItem

from reverie.core.dates import utc
from reverie.core.effects import Pipeline, StoreBatch
from reverie.core.errors import InputError
from reverie.core.ports import AlsoSearched, MemoryStorePort, NamespaceSearch
from reverie.ledger.retention import refresh_time_records
from reverie.ledger.search import SearchOptions, search_memories, visible
from reverie.ledger.timeline import TimeRecord, past_namespace, time_namespace

DAY_S = 86_400.0


@dataclass(frozen=True)
class TimeQuery:
    """When the caller wants memories from. Every field is optional.

    ``as_of``: what was true at that moment (closed versions included, later ones left out).
    ``event_after`` / ``event_before``: only memories learnt from events in that range.
    ``recency_weight`` (0 to 1, default 0): blend of relevance and how recent the event is, with
    ``recency_half_life_days`` as the age at which recency counts half.
    """

    as_of: datetime | None = None
    event_after: datetime | None = None
    event_before: datetime | None = None
    recency_weight: float = 0.0
    recency_half_life_days: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.recency_weight <= 1.0:
            raise InputError(f"recency_weight must be between 0 and 1, got {self.recency_weight}.")
        if self.recency_half_life_days <= 0:
            raise InputError("recency_half_life_days must be positive.")
        if (
            self.event_after
            and self.event_before
            and utc(self.event_after) > utc(self.event_before)
        ):
            raise InputError("event_after is later than event_before: the range is empty.")

    @property
    def plain(self) -> bool:
        return (
            self.as_of is None
            and self.event_after is None
            and self.event_before is None
            and not self.recency_weight
        )

    def event_filter(self) -> dict[str, Any]:
        bounds: dict[str, float] = {}
        if self.event_after is not None:
            bounds["$gte"] = utc(self.event_after).timestamp()
        if self.event_before is not None:
            bounds["$lte"] = utc(self.event_before).timestamp()
        return {"event_time_ts": bounds} if bounds else {}

    def admits(self, record: TimeRecord) -> bool:
        if self.as_of is not None and utc(record.valid_from) > utc(self.as_of):
            return False
        if self.event_after is not None and utc(record.event_time) < utc(self.event_after):
            return False
        return not (
            self.event_before is not None and utc(record.event_time) > utc(self.event_before)
        )


@dataclass(frozen=True)
class _Found:
    item: SearchItem
    event_time: datetime


def search_in_time(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    when: TimeQuery,
    *,
    query: str | None = None,
    filter: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    descendants: bool = False,
    refresh_ttl: bool | None = None,
    options: SearchOptions | None = None,
) -> Pipeline[list[SearchItem]]:
    """Memories of ``namespace`` as ``when`` asks; results shaped like current memories (a closed
    version comes back under its memory's key, with its ``{"kind", "content"}`` then).

    Scores are cosine similarities. An ``as_of`` search of one namespace (no descendants) with a
    query and no recency weight follows the store's one ranking; other searches in time are
    ordered by (blended) score, newer events first on ties.
    ``options`` apply in full to a plain search; in time, ``min_score`` and ``rerank`` do (the
    reranker reorders the best ``rerank_depth`` memories true then), not ``diversity`` or
    ``ranking``."""
    if not when.plain and options is not None and options.rerank is not None and query:
        rerank, depth = options.rerank, max(offset + limit, options.rerank_depth)
        candidates = yield from search_in_time(
            port,
            namespace,
            when,
            query=query,
            filter=filter,
            limit=depth,
            descendants=descendants,
            refresh_ttl=refresh_ttl,
            options=dataclasses.replace(options, rerank=None),
        )
        reranked = yield from rerank.rerank(query, candidates)
        return reranked[offset : offset + limit]
    if when.plain:
        return (
            yield from search_memories(
                port,
                namespace,
                query=query,
                filter=filter,
                limit=limit,
                offset=offset,
                descendants=descendants,
                refresh_ttl=refresh_ttl,
                options=options,
            )
        )
    min_score = options.min_score if options else None
    wanted = offset + limit
    pool = max(2 * wanted, 10)
    # Without descendants, the closed versions true at ``as_of`` compete with the current
    # memories in one ranking (in one pool on the embedded store, merged by score elsewhere).
    joint = when.as_of is not None and not descendants
    past: list[_Found] | None = None
    place: dict[int, int] = {}  # a joint search: each result's place in the store's ranking
    while True:
        search = NamespaceSearch(
            tuple(namespace),
            query=query,
            filter=filter,
            limit=pool,
            descendants=descendants,
            refresh_ttl=refresh_ttl,
            min_score=min_score,
        )
        if joint:
            also = AlsoSearched(past_namespace(namespace), _past_filter(filter, when))
            searches = [search._replace(also=(also,))]
        else:
            searches = [search]
        if when.as_of is not None and past is None and not joint:
            # The store applies the time filter to closed versions itself: the page's worth.
            # Both searches in one batch: one read, and the query embedded once.
            searches.append(
                NamespaceSearch(
                    past_namespace(namespace),
                    query=query,
                    filter=_past_filter(filter, when),
                    limit=wanted,
                    descendants=descendants,
                    min_score=min_score,
                )
            )
        results = yield from StoreBatch(port, searches)
        listed = cast(list[SearchItem], results[0])
        exhausted = len(listed) < pool
        if joint:
            current, past, place = _split_joint(tuple(namespace), listed)
        else:
            current = visible(namespace, descendants, listed)
        yield from refresh_time_records(port, current, refresh_ttl)
        if len(results) > 1:
            past = [_as_memory(item) for item in cast(list[SearchItem], results[1])]
        # Ranked by relevance alone, the best ``wanted`` admitted current memories are all that
        # can make the page; otherwise (no query, or recency reordering) all of them are needed.
        by_relevance = bool(query) and not when.recency_weight
        enough = wanted if by_relevance else len(current)
        found = (yield from _admitted(port, current, when, enough)) + (past or [])
        if len(found) >= wanted or exhausted:
            break
        pool *= 4  # too many candidates fell outside the time asked for: look further
    if joint and by_relevance:
        # The store's one ranking decides; the admitted memories make a prefix of it at least
        # ``wanted`` long, so its first ``wanted`` are exact.
        ranked = sorted(found, key=lambda f: place[id(f.item)])
    else:
        now = utc(when.as_of or datetime.now().astimezone()).timestamp()
        ranked = sorted(found, key=lambda f: _rank(f, when, now), reverse=True)
    return [f.item for f in ranked[offset : offset + limit]]


def _split_joint(
    namespace: tuple[str, ...], listed: list[SearchItem]
) -> tuple[list[SearchItem], list[_Found], dict[int, int]]:
    """A joint search's current memories and closed versions (shaped as memories), and each
    one's place in the store's ranking (by the identity of the item returned)."""
    current: list[SearchItem] = []
    past: list[_Found] = []
    place: dict[int, int] = {}
    for n, item in enumerate(listed):
        if tuple(item.namespace) == namespace:
            current.append(item)
            place[id(item)] = n
        else:
            found = _as_memory(item)
            past.append(found)
            place[id(found.item)] = n
    return current, past, place


def _past_filter(filter: dict[str, Any] | None, when: TimeQuery) -> dict[str, Any]:
    """Closed versions true at ``when.as_of``, within its event range."""
    assert when.as_of is not None
    as_of = utc(when.as_of).timestamp()
    return {
        **(filter or {}),
        "valid_from_ts": {"$lte": as_of},
        "valid_to_ts": {"$gt": as_of},
        **when.event_filter(),
    }


def _admitted(
    port: MemoryStorePort, items: list[SearchItem], when: TimeQuery, enough: int
) -> Pipeline[list[_Found]]:
    """The admitted current memories, best candidates first, page by page until a page ends
    with ``enough`` of them."""
    kept: list[_Found] = []
    page_size = max(min(enough, 50), 10)
    # Records are read two pages at a time: with about half the candidates outside the time
    # asked for, one read usually serves.
    read_size = 2 * page_size
    for start in range(0, len(items), read_size):
        chunk = items[start : start + read_size]
        records = yield from StoreBatch(
            port,
            [GetOp(time_namespace(tuple(i.namespace)), i.key, refresh_ttl=False) for i in chunk],
        )
        for at, (item, found) in enumerate(zip(chunk, records, strict=True), start=1):
            record = TimeRecord.from_value(found.value if isinstance(found, Item) else None)
            record = record or TimeRecord.assumed(item)
            if when.admits(record):
                kept.append(_Found(item, record.event_time))
            if at % page_size == 0 and len(kept) >= enough:
                return kept
    return kept


def _as_memory(item: SearchItem) -> _Found:
    """A closed version, shaped as the memory it was."""
    value = item.value
    namespace = tuple(item.namespace)[2:]  # ("__reverie__", "past", *namespace)
    valid_from = datetime.fromisoformat(str(value["valid_from"]))
    valid_to = datetime.fromisoformat(str(value["valid_to"]))
    memory = SearchItem(
        namespace=namespace,
        key=str(value.get("memory_key")),
        value={"kind": value.get("kind"), "content": value.get("content")},
        created_at=valid_from,
        updated_at=valid_to,
        score=item.score,
    )
    return _Found(memory, datetime.fromisoformat(str(value.get("event_time") or valid_from)))


def _rank(found: _Found, when: TimeQuery, now: float) -> tuple[float, float]:
    score = found.item.score if found.item.score is not None else 0.0
    moment = utc(found.event_time).timestamp()
    if when.recency_weight:
        age_days = max(0.0, now - moment) / DAY_S
        recency = math.exp(-math.log(2) * age_days / when.recency_half_life_days)
        score = (1 - when.recency_weight) * score + when.recency_weight * recency
    return (score, moment)  # equal scores: the newer event first


@dataclass(frozen=True)
class Version:
    """One version of a memory in its timeline."""

    version: int
    value: dict[str, Any]
    valid_from: datetime
    valid_to: datetime | None  # None: still true
    closed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "value": self.value,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "closed_by": self.closed_by,
        }


def memory_timeline(
    port: MemoryStorePort, namespace: tuple[str, ...], key: str
) -> Pipeline[list[Version]]:
    """Every version of memory ``key``, oldest first (the current one last, if it exists)."""
    current, record, past = yield from StoreBatch(
        port,
        [
            GetOp(namespace, key, refresh_ttl=False),
            GetOp(time_namespace(namespace), key, refresh_ttl=False),
            NamespaceSearch(past_namespace(namespace), filter={"memory_key": key}, limit=10_000),
        ],
    )
    versions = []
    for item in past if isinstance(past, list) else []:
        if not isinstance(item, Item):
            continue
        value = item.value
        versions.append(
            Version(
                int(value.get("version", 0)),
                {"kind": value.get("kind"), "content": value.get("content")},
                datetime.fromisoformat(str(value["valid_from"])),
                datetime.fromisoformat(str(value["valid_to"])),
                str(value.get("closed_by")),
            )
        )
    if isinstance(current, Item):
        now = TimeRecord.from_value(record.value if isinstance(record, Item) else None)
        now = now or TimeRecord.assumed(current)
        versions.append(Version(now.version, current.value, now.valid_from, None))
    return sorted(versions, key=lambda v: (v.version, v.valid_from))
