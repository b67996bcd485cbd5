"""Reading what a manager run is given: its config (explicit or the LangGraph run's) and input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from reverie.core.errors import ConfigurationError, InputError
from reverie.extraction.messages import normalize_messages


def checked_config(config: Any) -> RunnableConfig | None:
    """``config`` if it is shaped like a RunnableConfig, else a ConfigurationError saying how."""
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            f"config must be a dict like {{'configurable': {{'langgraph_user_id': ...}}}}, "
            f"got {type(config).__name__}."
        )
    configurable = config.get("configurable")
    if configurable is not None and not isinstance(configurable, Mapping):
        raise ConfigurationError(
            f"config['configurable'] must be a dict, got {type(configurable).__name__}. "
            "Pass config={'configurable': {'langgraph_user_id': ..., 'thread_id': ...}}."
        )
    return config  # type: ignore[return-value]


def ambient_config() -> RunnableConfig | None:
    """The config of the LangGraph run this is called from, if any."""
    from langgraph.config import get_config

    try:
        return checked_config(get_config())
    except RuntimeError:
        return None


def run_config(config: Any) -> RunnableConfig | None:
    """The config a run uses: the one given, else (as LangMem allows) the LangGraph run's."""
    return checked_config(config) if config is not None else ambient_config()


def configurable(config: RunnableConfig | None) -> Mapping[str, Any]:
    return (config or {}).get("configurable") or {}


def thread_id_of(config: RunnableConfig | None) -> str | None:
    thread_id = configurable(config).get("thread_id")
    return str(thread_id) if thread_id is not None else None


def idempotency_key_of(config: RunnableConfig | None) -> str | None:
    """A retried run (same key) makes the same memory keys, so it overwrites instead of adding."""
    key = configurable(config).get("idempotency_key") or (config or {}).get("run_id")
    return str(key) if key else None


def messages_of(input: Any) -> list[BaseMessage]:
    """The conversation in ``{"messages": [...]}`` or a plain list of messages."""
    if isinstance(input, Mapping):
        if "messages" not in input:
            raise InputError(
                f"Input has no 'messages' (keys: {sorted(map(str, input))}). "
                "Pass {'messages': [...]}."
            )
        return normalize_messages(input["messages"]) if input["messages"] else []
    if isinstance(input, (list, tuple)):
        return normalize_messages(list(input)) if input else []
    raise InputError(
        f"Input must be {{'messages': [...]}} or a list of messages, got {type(input).__name__}."
    )
