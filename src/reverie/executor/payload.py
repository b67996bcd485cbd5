"""JSON form of reflection payloads and configs, for jobs stored in the database.

Both go through the value policy before they are stored (``reverie.core.values``): a payload's
text is normalised as the manager would normalise it anyway (NUL removed, lone surrogates
replaced), NaN or Infinity in it are refused naming the field; a config is not changed (its
values are ids: a user id, a thread id) but refused when a value holds what PostgreSQL cannot.
A whole job is serialised once (:func:`stored_job_args`), measured against
``Limits.max_payload_bytes`` and stored as those bytes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from reverie.core.errors import ConfigurationError, InputError
from reverie.core.limits import Limits, check_payload_size
from reverie.core.text import clean_text
from reverie.core.values import check_value_depth, normalised_value, unstorable_fields

logger = logging.getLogger("reverie.executor")

_MESSAGE = "__reverie_message__"
_KEPT_CONFIG_KEYS = ("tags", "metadata", "recursion_limit")


def encode_payload(payload: Any) -> Any:
    """``payload`` as plain JSON; LangChain messages become tagged ``messages_to_dict`` entries."""
    check_value_depth(payload, "The payload")  # before encoding it, which recurses per level
    return _encode(payload, "payload")


def stored_job_args(args: Mapping[str, Any], limits: Limits) -> bytes:
    """A job's encoded arguments as the UTF-8 JSON the queue stores, or a :class:`LimitError`
    (raised before anything is enqueued) when they are over ``limits.max_payload_bytes``."""
    data = json.dumps(args, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    check_payload_size(len(data), limits)
    return data


def decode_payload(data: Any) -> Any:
    if isinstance(data, dict):
        if set(data) == {_MESSAGE}:
            return messages_from_dict([data[_MESSAGE]])[0]
        return {key: decode_payload(value) for key, value in data.items()}
    if isinstance(data, list):
        return [decode_payload(item) for item in data]
    return data


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return normalised_value(value, where)
    if isinstance(value, BaseMessage):
        return {_MESSAGE: normalised_value(message_to_dict(value), where)}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"{where} has a non-string key {key!r}; durable jobs are JSON.")
            out[clean_text(key)] = _encode(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, BaseModel):
        return normalised_value(value.model_dump(mode="json"), where)
    raise InputError(
        f"{where} is a {type(value).__name__}, which a durable job cannot store. Submit messages "
        "(LangChain messages or {'role', 'content'} dicts) and JSON values only."
    )


def encode_config(config: RunnableConfig | None) -> dict[str, Any]:
    """The caller's settings that a worker elsewhere can use: JSON ``configurable`` values etc.

    LangGraph's internal entries and values that are not JSON (connections, callbacks) describe
    the caller's process and are left out.
    """
    source = config or {}
    configurable: dict[str, Any] = {}
    for key, value in (source.get("configurable") or {}).items():
        if key.startswith("__"):
            continue
        if _is_json(value):
            configurable[key] = _storable(value, f"config['configurable'][{key!r}]", key)
        else:
            logger.debug("Not storing config['configurable'][%r]: not JSON", key)
    out: dict[str, Any] = {"configurable": configurable}
    for key in _KEPT_CONFIG_KEYS:
        if key in source and _is_json(source[key]):  # type: ignore[literal-required]
            out[key] = _storable(source[key], f"config[{key!r}]", key)  # type: ignore[literal-required]
    return out


def _storable(value: Any, where: str, key: str) -> Any:
    """A config value as given, or a ConfigurationError where PostgreSQL could not store it
    (config values are ids, which Reverie never changes)."""
    problems = unstorable_fields({key: value})
    if problems:
        raise ConfigurationError(
            f"{where} holds a NUL character, a lone surrogate, NaN or Infinity (at "
            f"{problems[0]}), which a durable job cannot store. Pass the value without it; "
            "nothing was submitted."
        )
    return value


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
