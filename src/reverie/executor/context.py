"""The run config a background reflection sees: caller's settings, a store, no foreground wiring."""

from __future__ import annotations

import contextvars
import math
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph._internal._constants import CONFIG_KEY_RUNTIME
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError

#: Marks "take the thread id from the config" (``None`` is a legal, different choice).
FROM_CONFIG: Any = object()

# Keys of a RunnableConfig that are about the caller's own run and must not leak into work that
# outlives it: callbacks would stream background model calls into a finished foreground run.
_DROPPED_KEYS = frozenset({"callbacks", "run_id", "run_name", "max_concurrency"})


def current_config() -> RunnableConfig | None:
    """The config of the LangGraph / LangChain run this is called from, if any."""
    value = var_child_runnable_config.get()
    return value if value else None


def check_config(config: Any) -> RunnableConfig | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            "config must be a dict like {'configurable': {'thread_id': ...}}, "
            f"got {type(config).__name__}."
        )
    configurable = config.get("configurable")
    if configurable is not None and not isinstance(configurable, Mapping):
        raise ConfigurationError(
            f"config['configurable'] must be a dict, got {type(configurable).__name__}."
        )
    return config  # type: ignore[return-value]


def submission_config(config: Any, after_seconds: Any) -> RunnableConfig | None:
    """The config a submission runs with (default: the current LangGraph run's), after checking
    it and the delay; shared by both executors so they accept and refuse the same input."""
    checked = check_config(config) if config is not None else current_config()
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
    text = str(thread_id)
    return text, text


def store_of_config(config: RunnableConfig | None) -> BaseStore | None:
    runtime = ((config or {}).get("configurable") or {}).get(CONFIG_KEY_RUNTIME)
    return getattr(runtime, "store", None)


def background_config(config: RunnableConfig | None, store: BaseStore | None) -> RunnableConfig:
    """A copy of ``config`` for work done later, elsewhere, carrying ``store``.

    User settings (``configurable`` values, tags, metadata) are kept; LangGraph's internal keys
    (``__pregel_*``) and callbacks belong to the caller's run and are dropped. The store goes where
    ``langgraph.config.get_store()`` finds it, as inside a graph.
    """
    source = config or {}
    out: dict[str, Any] = {k: v for k, v in source.items() if k not in _DROPPED_KEYS}
    configurable = {
        k: v for k, v in (source.get("configurable") or {}).items() if not k.startswith("__")
    }
    previous = (source.get("configurable") or {}).get(CONFIG_KEY_RUNTIME)
    if store is None:
        store = getattr(previous, "store", None)
    if store is not None or previous is not None:
        configurable[CONFIG_KEY_RUNTIME] = Runtime(
            context=getattr(previous, "context", None), store=store
        )
    out["configurable"] = configurable
    return out  # type: ignore[return-value]


def context_with(config: RunnableConfig) -> contextvars.Context:
    """A fresh context in which ``get_config()`` / ``get_store()`` return ``config`` and its store."""
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, config)
    return context
