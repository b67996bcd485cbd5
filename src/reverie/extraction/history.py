"""An audit trail: what changed in each memory, when, and from which thread."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from langgraph.store.base import PutOp
from pydantic import BaseModel

from reverie.extraction.thread_state import STATE_ROOT

Action = Literal["insert", "update", "delete"]


def history_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    return (STATE_ROOT, "history", *namespace)


class HistoryRecord(BaseModel):
    """One change to one memory."""

    memory_key: str
    action: Action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    thread_id: str | None = None
    at: datetime

    @classmethod
    def now(cls, **fields: Any) -> HistoryRecord:
        return cls(at=datetime.now(timezone.utc), **fields)


def history_put(
    namespace: tuple[str, ...],
    key: str,
    action: Action,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    thread_id: str | None,
    record_key: str | None = None,
) -> PutOp:
    """The write that records one change to memory ``key`` of ``namespace`` in its audit trail.

    Sent in the same store batch as the change itself, so a memory and its history never
    disagree.
    """
    record = HistoryRecord.now(
        memory_key=key, action=action, before=before, after=after, thread_id=thread_id
    )
    return PutOp(
        history_namespace(namespace),
        record_key or str(uuid.uuid4()),
        record.model_dump(mode="json"),
        index=False,
    )
