"""What a background reflection runs with: the caller's settings and a store, nothing of the
caller's own run (its callbacks, run ids or LangGraph's internal entries)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError
from reverie.core.limits import DEFAULT_LIMITS, check_key
from reverie.extraction.run_config import ambient_config, checked_config

#: Marks "take the thread id from the config" (``None`` is a legal, different choice).
FROM_CONFIG: Any = object()

# Keys of a RunnableConfig that are about the caller's own run and must not leak into work that
# outlives it: callbacks would stream background model calls into a finished foreground run.
_DROPPED_KEYS = frozenset({"callbacks", "run_id", "run_name", "max_concurrency"})


def ambient_store() -> BaseStore | None:
    """The store of the LangGraph run this is called from, if any."""
    from langgraph.config import get_store

    try:
        return get_store()
    except (RuntimeError, KeyError):  # not inside a LangGraph run
        return None


def submission_config(config: Any, after_seconds: Any) -> RunnableConfig | None:
    """The config a submission runs with (default: the current LangGraph run's), after checking
    it and the delay; shared by both executors so they accept and refuse the same input."""
    checked = checked_config(config) if config is not None else ambient_config()
    if not isinstance(after_seconds, (int, float)) or not math.isfinite(after_seconds):
        raise ConfigurationError(f"after_seconds must be a number, got {after_seconds!r}.")
    if after_seconds < 0:
        raise ConfigurationError(f"after_seconds must be >= 0, got {after_seconds}.")
    return checked


def thread_slot(config: RunnableConfig | None, thread_id: Any) -> tuple[str | None, object]:
    """The thread id and the debounce slot of one submission.

    Submissions sharing a slot replace each other while pending. Without a thread id every
    submission gets a slot of its own, so nothing is debounced.
    """
    if thread_id is FROM_CONFIG:
        configurable = (config or {}).get("configurable") or {}
        thread_id = configurable.get("thread_id")
    if thread_id is None or thread_id == "":
        return None, object()
    if not isinstance(thread_id, (str, uuid.UUID, int)):
        raise ConfigurationError(
            f"thread_id must be a string or UUID, got {type(thread_id).__name__} {thread_id!r}."
        )
    # It keys the thread's progress record.
    text = check_key(str(thread_id), DEFAULT_LIMITS, "thread_id", memory=True)
    return text, text


def background_config(config: Mapping[str, Any] | None) -> RunnableConfig:
    """A copy of ``config`` for work done later, elsewhere.

    User settings (``configurable`` values, tags, metadata) are kept; LangGraph's internal keys
    (``__pregel_*`` and the like) and callbacks belong to the caller's run and are dropped.
    """
    source = config or {}
    out: dict[str, Any] = {k: v for k, v in source.items() if k not in _DROPPED_KEYS}
    out["configurable"] = {
        k: v for k, v in (source.get("configurable") or {}).items() if not str(k).startswith("__")
    }
    return out  # type: ignore[return-value]
