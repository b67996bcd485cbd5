"""The audit trail: what changed in each memory, when, and from which thread.

Each change is recorded by a put in the same commit as the change itself, so a memory and its
history never disagree. Records live under ``("__reverie__", "history", *namespace)``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from langgraph.store.base import PutOp, SearchItem
from pydantic import BaseModel

from reverie.core.effects import Pipeline
from reverie.core.namespace import RESERVED_ROOT as STATE_ROOT
from reverie.core.ports import MemoryStorePort
from reverie.core.text import clean_json
from reverie.ledger.search import every_item

Action = Literal["insert", "update", "delete"]
HISTORY_PAGE = 500


def history_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    return (STATE_ROOT, "history", *namespace)


class HistoryRecord(BaseModel):
    """One change to one memory."""

    memory_key: str
    action: Action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    thread_id: str | None = None
    # The manager run that made the change: its usage record has the same run_id
    # (``manager.runs()``); None for changes made outside a run (put, delete, tools).
    run_id: str | None = None
    at: datetime

    @classmethod
    def now(cls, **fields: Any) -> HistoryRecord:
        return cls(at=datetime.now(timezone.utc), **fields)


def action_between(before: Any, after: Any) -> Action:
    """What a change from ``before`` to ``after`` (None: absent) amounts to."""
    if before is None:
        return "insert"
    return "delete" if after is None else "update"


def history_put(
    namespace: tuple[str, ...],
    key: str,
    action: Action,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    thread_id: str | None,
    record_key: str | None = None,
    run_id: str | None = None,
    ttl: float | None = None,
) -> PutOp:
    """The write that records one change to memory ``key`` of ``namespace`` in its audit trail;
    committed together with the change itself. ``ttl`` (minutes) is the memory's, so the record
    expires with it (``reverie.ledger.retention``)."""
    record = HistoryRecord.now(
        memory_key=key,
        action=action,
        # A value stored before text was normalised (e.g. holding a NUL) is recorded as every
        # backend can store it.
        before=clean_json(before),
        after=clean_json(after),
        thread_id=clean_json(thread_id),
        run_id=run_id,
    )
    return PutOp(
        history_namespace(namespace),
        record_key or str(uuid.uuid4()),
        record.model_dump(mode="json"),
        index=False,
        ttl=ttl,
    )


def read_history(
    port: MemoryStorePort, namespace: tuple[str, ...], key: str | None, limit: int | None
) -> Pipeline[list[HistoryRecord]]:
    """The ``limit`` latest changes (all with ``None``) of ``namespace``, or of its memory
    ``key``, oldest first."""
    items = yield from every_item(
        port,
        history_namespace(namespace),
        filter={"memory_key": key} if key else None,
        page=HISTORY_PAGE,
        refresh_ttl=None,
    )
    records = _records(items)
    records.sort(key=lambda r: r.at)
    return records[-limit:] if limit else records


def _records(items: list[SearchItem]) -> list[HistoryRecord]:
    records = []
    for item in items:
        try:
            records.append(HistoryRecord.model_validate(item.value))
        except ValueError:
            continue  # not written by Reverie; an audit trail reader must not crash on it
    return records
