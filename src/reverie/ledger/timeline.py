"""Memory that knows when: validity intervals kept beside the memories, never inside them.

A memory's stored value stays LangMem's ``{"kind", "content"}``. What Reverie knows about its
time lives in two bookkeeping namespaces of its own, so LangMem-shaped readers see exactly what
they saw before:

- ``("__reverie__", "time", *namespace)``, key = the memory's key: the *current* version's
  record: its version number, since when it is true (``valid_from``), the event time it was
  learnt from and when it was written (``learned_at``), and its own ``index=`` if it was put
  with one.
- ``("__reverie__", "past", *namespace)``, key ``"<memory key>@<version>"``: every *closed*
  version: its kind and content as they were, ``valid_from`` / ``valid_to``, what replaced it
  (``superseded_by``, the next version) or that it was closed by a delete. A past version keeps
  ``kind`` and ``content`` at the top of its value, as the memory had them, and is indexed with
  the texts the memory was indexed by, so "as of" searches embed it as the memory it was: the
  fields of the memory's own ``index=`` (kept in its time record; ``False``: not indexed), else
  the store's default fields (``MemoryStorePort.default_index_fields``). Where those reach beyond
  ``kind`` and ``content`` (``"$"``, the default, is the whole value), the past value also holds
  a copy of the memory's value under ``"memory"``, and the fields point there. Where the store
  does not say its default fields (and in versions closed by earlier releases), the past value
  is indexed with the store's default fields as it is, its bookkeeping included.

Superseding (the default of the memory managers) writes the closed version, the new value and
the new record in the same commit as the rest of the run; the overwrite mode writes none of it.
Times are UTC; each is stored as ISO text and as epoch seconds (``*_ts``) for filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeGuard

from langgraph.store.base import Item, PutOp, tokenize_path

from reverie.core.dates import utc
from reverie.core.indexing import IndexFields
from reverie.core.namespace import RESERVED_ROOT
from reverie.core.ports import Write

OPEN_END_TS = 253402300799.0  # 9999-12-31T23:59:59Z: "still valid", comparable with $gt
ClosedBy = Literal["update", "delete"]
PutIndex = Literal[False] | list[str] | None
"""A put's ``index=``: not indexed, the fields (an ``IndexFields``: embedded and keyword paths
apart), or None: the store's default fields."""
MEMORY_COPY = "memory"  # where a past value copies the memory's value (see the module docstring)


def time_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    return (RESERVED_ROOT, "time", *namespace)


def past_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    return (RESERVED_ROOT, "past", *namespace)


def past_key(key: str, version: int) -> str:
    return f"{key}@{version}"


def _iso(moment: datetime) -> str:
    return utc(moment).isoformat()


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        return None


@dataclass(frozen=True)
class TimeRecord:
    """The current version of one memory, in time."""

    version: int
    valid_from: datetime
    event_time: datetime
    learned_at: datetime
    thread_id: str | None = None
    index: PutIndex = field(default=None, hash=False)  # the version's own ``index=``

    @classmethod
    def from_value(cls, value: Any) -> TimeRecord | None:
        if not isinstance(value, dict):
            return None
        valid_from, event_time = _parse(value.get("valid_from")), _parse(value.get("event_time"))
        learned_at = _parse(value.get("learned_at"))
        version = value.get("version")
        if valid_from is None or not isinstance(version, int) or version < 1:
            return None
        thread = value.get("thread_id")
        return cls(
            version,
            valid_from,
            event_time or valid_from,
            learned_at or valid_from,
            thread if isinstance(thread, str) else None,
            _index_from(value.get("index")),
        )

    @classmethod
    def assumed(cls, item: Item) -> TimeRecord:
        """For a memory written without a record (before time was kept, or by another writer):
        true since it was first stored."""
        created = utc(item.created_at)
        return cls(1, created, created, created)

    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "version": self.version,
            "valid_from": _iso(self.valid_from),
            "valid_from_ts": utc(self.valid_from).timestamp(),
            "event_time": _iso(self.event_time),
            "event_time_ts": utc(self.event_time).timestamp(),
            "learned_at": _iso(self.learned_at),
            "thread_id": self.thread_id,
        }
        if self.index is not None:  # only where it is not the store's default
            value["index"] = _index_value(self.index)
        return value


def _index_value(index: Literal[False] | list[str]) -> Any:
    if isinstance(index, IndexFields):
        return {"embed": list(index), "keywords": list(index.keywords)}
    return index if index is False else list(index)


def _index_from(value: Any) -> PutIndex:
    """A record's ``index`` as written by :func:`_index_value` (None: absent or unreadable)."""
    if value is False:
        return False
    if _paths(value):
        return list(value)
    if isinstance(value, dict) and _paths(value.get("embed")) and _paths(value.get("keywords")):
        return IndexFields(value["embed"], keywords=value["keywords"])
    return None


def _paths(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(p, str) for p in value)


def _on_past(path: str) -> str:
    """Where ``path`` of a memory's value lies on its closed version's value: ``kind`` and
    ``content`` are at the top of both; anything else is in the copy."""
    if path in ("", "$"):  # the whole value
        return MEMORY_COPY
    return path if tokenize_path(path)[0] in ("kind", "content") else f"{MEMORY_COPY}.{path}"


def past_indexing(
    item_value: dict[str, Any], past: dict[str, Any], fields: PutIndex
) -> tuple[dict[str, Any], PutIndex]:
    """A closed version's value (``past``) and ``index=``, such that it is indexed with the
    texts the memory's value (``item_value``) was indexed with at ``fields`` (None: unknown,
    the store's defaults are left to apply to ``past`` as it is)."""
    if fields is None or fields is False:
        return past, fields
    keywords = fields.keywords if isinstance(fields, IndexFields) else list(fields)
    embed = [_on_past(p) for p in fields]
    moved = IndexFields(embed, keywords=[_on_past(p) for p in keywords])
    if moved == list(fields) and moved.keywords == keywords:
        return past, fields  # every path resolves the same on the past value: no copy needed
    # An IndexFields is the list of embedded paths, so any LangGraph store can take it.
    return {**past, MEMORY_COPY: dict(item_value)}, moved


def past_value(
    item_value: dict[str, Any],
    key: str,
    record: TimeRecord,
    valid_to: datetime,
    closed_by: ClosedBy,
) -> dict[str, Any]:
    """A closed version: what the memory said, and when it was true."""
    return {
        "kind": item_value.get("kind"),
        "content": item_value.get("content"),
        "memory_key": key,
        "version": record.version,
        "valid_from": _iso(record.valid_from),
        "valid_from_ts": utc(record.valid_from).timestamp(),
        "valid_to": _iso(valid_to),
        "valid_to_ts": utc(valid_to).timestamp(),
        "event_time": _iso(record.event_time),
        "event_time_ts": utc(record.event_time).timestamp(),
        "learned_at": _iso(record.learned_at),
        "closed_by": closed_by,
        "superseded_by": past_key(key, record.version + 1) if closed_by == "update" else None,
    }


@dataclass(frozen=True)
class Moment:
    """When a change happens: the event time it comes from, and the wall-clock time it is written."""

    event_time: datetime
    learned_at: datetime
    thread_id: str | None = None


def timeline_writes(
    namespace: tuple[str, ...],
    key: str,
    before: Item | None,
    record: TimeRecord | None,
    after: dict[str, Any] | None,
    moment: Moment,
    ttl: float | None = None,
    *,
    store_fields: list[str] | None,
    index: PutIndex = None,
) -> list[Write]:
    """The bookkeeping writes of one change (to be committed with the change itself).

    An insert opens version 1; an update closes the current version at the event time and opens
    the next; a delete closes the current version and removes the record. The records written
    get ``ttl`` (minutes), the memory's, so none outlives it (``reverie.ledger.retention``).
    ``index`` is the new value's own ``index=``, kept in its record; a closed version is indexed
    as its record's ``index`` says, else by ``store_fields``, the store's default fields
    (``MemoryStorePort.default_index_fields``; None: unknown).
    """
    writes: list[Write] = []
    times = time_namespace(namespace)
    if before is None:
        if after is not None:
            opened = TimeRecord(
                1, moment.event_time, moment.event_time, moment.learned_at, moment.thread_id, index
            )
            writes.append(PutOp(times, key, opened.to_value(), index=False, ttl=ttl))
        return writes
    current = record or TimeRecord.assumed(before)
    # A change can never end a version before it began (an event time older than the stored
    # one, e.g. a replayed conversation): it then ends where it began.
    ends = max(utc(moment.event_time), utc(current.valid_from))
    closed_by: ClosedBy = "delete" if after is None else "update"
    past, past_index = past_indexing(
        before.value,
        past_value(before.value, key, current, ends, closed_by),
        store_fields if current.index is None else current.index,
    )
    writes.append(
        PutOp(
            past_namespace(namespace),
            past_key(key, current.version),
            past,
            index=past_index,
            ttl=ttl,
        )
    )
    if after is None:
        writes.append(PutOp(times, key, None))
    else:
        opened = TimeRecord(
            current.version + 1, ends, moment.event_time, moment.learned_at, moment.thread_id, index
        )
        writes.append(PutOp(times, key, opened.to_value(), index=False, ttl=ttl))
    return writes
