"""When a conversation happened: from the messages themselves, the run's config, or now.

A message's time is read from what LangChain keeps of it: ``created_at`` / ``timestamp`` keys of
dict messages (kept in ``additional_kwargs``), or the same names in ``additional_kwargs`` or
``response_metadata``. A run may also give one reference time for all its messages:
``config["configurable"]["reference_time"]``. Values may be datetimes, ISO 8601 text or epoch
seconds; times without a zone are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from reverie.core.dates import as_datetime
from reverie.core.errors import ConfigurationError

TIME_KEYS = ("created_at", "timestamp", "time")
REFERENCE_KEY = "reference_time"


def message_time(message: BaseMessage) -> datetime | None:
    for source in (message.additional_kwargs, message.response_metadata):
        if isinstance(source, Mapping):
            for key in TIME_KEYS:
                moment = as_datetime(source.get(key))
                if moment is not None:
                    return moment
    return None


def reference_time(config: RunnableConfig | None) -> datetime | None:
    """The run's own reference time, if its config gives one (a bad one is refused)."""
    raw = ((config or {}).get("configurable") or {}).get(REFERENCE_KEY)
    if raw is None:
        return None
    moment = as_datetime(raw)
    if moment is None:
        raise ConfigurationError(
            f"config['configurable']['{REFERENCE_KEY}'] must be a datetime, an ISO 8601 text "
            f"or epoch seconds, got {raw!r:.80}."
        )
    return moment


def spoken_day(moment: datetime) -> str:
    return f"{moment:%A}, {moment.day} {moment:%B %Y}"


def dates_line(times: Sequence[datetime]) -> str:
    """What the prompt says about when the conversation happened."""
    days = sorted({t.date() for t in times})
    if len(days) == 1:
        return f"Conversation date: {spoken_day(times[0])}."
    first, last = min(times), max(times)
    return (
        f"Conversation dates: {spoken_day(first)} to {spoken_day(last)} (each message shows its "
        "date)."
    )
