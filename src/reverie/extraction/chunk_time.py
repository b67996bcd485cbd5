"""When one chunk of a conversation happened, for the prompt and for the memories it yields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from langgraph.store.base import GetOp, Item

from reverie.core.effects import Pipeline, StoreBatch
from reverie.core.ports import MemoryStorePort
from reverie.extraction.event_time import dates_line
from reverie.extraction.messages import RenderedMessage
from reverie.extraction.working_set import WorkingSet
from reverie.ledger.timeline import TimeRecord, time_namespace


@dataclass(frozen=True)
class DatedChunk:
    """The chunk's lines as the model sees them (dated when it spans several days), the prompt's
    date line, and the event time of what is learnt from it (its latest message)."""

    prompt_lines: list[str]
    dates: str
    event_time: datetime


def date_chunk(
    chunk: Sequence[RenderedMessage], reference: datetime | None, now: datetime
) -> DatedChunk:
    """A message's own time first, else the run's reference time, else now."""
    times = [m.at or reference or now for m in chunk] or [reference or now]
    several_days = len({t.date() for t in times}) > 1
    lines = [
        f"[{moment:%Y-%m-%d}] {m.line}" if several_days else m.line
        for m, moment in zip(chunk, times, strict=False)
    ]
    return DatedChunk(lines, dates_line(times), max(times))


def read_time_records(
    port: MemoryStorePort, namespace: tuple[str, ...], entries: WorkingSet
) -> Pipeline[dict[str, TimeRecord | None]]:
    """The time records of the stored memories a round changes (to close their versions)."""
    keys = [
        e.key
        for e in entries.values()
        if e.item is not None and e.key is not None and (e.changed or e.deleted)
    ]
    if not keys:
        return {}
    found = yield from StoreBatch(
        port, [GetOp(time_namespace(namespace), key, refresh_ttl=False) for key in keys]
    )
    return {
        key: TimeRecord.from_value(item.value if isinstance(item, Item) else None)
        for key, item in zip(keys, found, strict=True)
    }
