"""What a background reflection runs with: the caller's settings and a store, nothing of the
caller's own run (its callbacks, run ids or LangGraph's internal entries)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError, ReverieError
from reverie.core.limits import DEFAULT_LIMITS, check_key
from reverie.extraction.accounting import JOB_ID_KEY
from reverie.extraction.run_config import ambient_config, checked_config
from reverie.extraction.store_manager import MemoryStoreManager

#: Marks "take the thread id from the config" (``None`` is a legal, different choice).
FROM_CONFIG: Any = object()

# configurable entries that identify a run, a checkpoint or a retry rather than whose
# conversation it is: LangGraph's checkpoint keys, run ids, and Reverie's own per-job keys.
_RUN_KEYS = frozenset(
    {
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "checkpoint_map",
        "run_id",
        "langgraph_request_id",
        "idempotency_key",
        JOB_ID_KEY,
    }
)

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


def submission_thread(config: RunnableConfig | None, thread_id: Any) -> str | None:
    """The thread id of one submission (``FROM_CONFIG``: the config's), checked; None for none."""
    if thread_id is FROM_CONFIG:
        configurable = (config or {}).get("configurable") or {}
        thread_id = configurable.get("thread_id")
    if thread_id is None or thread_id == "":
        return None
    if not isinstance(thread_id, (str, uuid.UUID, int)):
        raise ConfigurationError(
            f"thread_id must be a string or UUID, got {type(thread_id).__name__} {thread_id!r}."
        )
    # It keys the thread's progress record.
    return check_key(str(thread_id), DEFAULT_LIMITS, "thread_id", memory=True)


def debounce_slot(
    thread: str | None, config: Mapping[str, Any] | None, reflector: object
) -> tuple[str, str, str] | None:
    """The slot of one submission: submissions sharing it replace each other while pending and
    run one at a time. None (no debouncing) without a thread id.

    A thread id alone is not enough: apps reuse ids such as "1" for every user, and one user's
    submission must never cancel another's. So the slot is the thread plus where its memories
    go: the manager's namespace filled from ``config`` when ``reflector`` is a store manager,
    else every setting of the config (two users always differ in one), which may debounce less.
    """
    if thread is None:
        return None
    if isinstance(reflector, MemoryStoreManager):
        try:
            namespace = reflector.get_namespace(cast(RunnableConfig, config or {}))
        except ReverieError:
            pass  # the run itself reports it; meanwhile the settings keep users apart
        else:
            return "namespace", json.dumps(namespace, ensure_ascii=False), thread
    configurable = (config or {}).get("configurable") or {}
    return "settings", _settings_text(configurable), thread


def _settings_text(configurable: Mapping[Any, Any]) -> str:
    """``configurable`` in one canonical text, without the entries that name a run or a
    checkpoint rather than a user (they change at every call and would defeat debouncing)."""
    entries: list[list[Any]] = []
    for key, value in sorted(configurable.items(), key=lambda item: str(item[0])):
        name = str(key)
        if name in _RUN_KEYS or name.startswith("__"):
            continue
        try:
            entries.append([name, json.dumps(value, sort_keys=True, ensure_ascii=False)])
        except (TypeError, ValueError, RecursionError):
            # Not JSON (only the in-process executor sees such values): the object itself, by
            # identity, which is unique while a submission holding it is pending.
            entries.append([name, None, id(value)])
    return json.dumps(entries, ensure_ascii=False)


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
