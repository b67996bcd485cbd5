"""An audit trail: what changed in each memory, when, and from which thread."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

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
