"""Reverie's size limits, and the checks that apply them before anything is written.

One :class:`Limits` value holds every limit. Managers, tools, the MCP server and Reverie's stores
take one (``limits=...``); the CLI reads ``REVERIE_MAX_...`` environment variables
(:meth:`Limits.from_env`). An input over a limit is refused with a :class:`LimitError` that says
the limit, where to change it and that nothing was written.

The identifier limits (labels, depth, keys) keep every item under PostgreSQL's B-tree row limit
(about 2,700 bytes for a namespace and key together) and are the same on every backend, so a
store moved from one backend to another keeps working.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

from reverie.core.errors import (
    ConfigurationError,
    InputError,
    LimitError,
    NamespaceError,
    NamespaceLimitError,
    UnstorableValueError,
)
from reverie.core.text import NUL, clean_text, is_clean, quoted, utf8_size

ENV_PREFIX = "REVERIE_"
# Reverie keeps a memory namespace's bookkeeping two labels deeper: ("__reverie__", "history", ...).
BOOKKEEPING_DEPTH = 2
# ... and some of it under the memory's key with a suffix ("<key>@<version>" for past versions).
BOOKKEEPING_KEY_BYTES = 32


@dataclass(frozen=True)
class Limits:
    """Every size limit Reverie enforces; the defaults suit chat memories.

    Each field can be set from the environment for the CLI and the MCP server as
    ``REVERIE_`` + its name in capitals, e.g. ``REVERIE_MAX_VALUE_BYTES=131072``.
    """

    max_value_bytes: int = 65_536
    """One memory as stored (its value as UTF-8 JSON): what a model, a tool, the MCP server, an
    application's ``put`` or an import may write."""
    max_label_bytes: int = 256
    """One namespace label (a user id, for instance), in UTF-8 bytes."""
    max_namespace_depth: int = 8
    """Labels in a stored namespace. A memory namespace may have two fewer: Reverie keeps its
    audit trail and thread progress for it under ``("__reverie__", "history" | "threads", ...)``."""
    max_key_bytes: int = 256
    """A stored item's key, in UTF-8 bytes. A memory's key (or a thread id) may have 32 fewer:
    Reverie keeps past versions of a memory under its key with a suffix."""
    max_query_chars: int = 8_192
    """A search query."""
    max_filter_size: int = 64
    """Keys and list elements of a search filter, counted at every level."""
    max_filter_depth: int = 6
    """Nesting of a search filter (``{"a": {"b": {"$gt": 1}}}`` is 3 deep)."""
    max_filter_chars: int = 16_384
    """Characters of all the strings in a search filter together."""
    max_search_limit: int = 10_000
    """Results one search may ask for (``limit``)."""
    max_search_offset: int = 10_000_000
    """Results one search may skip (``offset``)."""
    max_import_line_bytes: int = 1_048_576
    """One line of a file given to ``reverie import``."""
    max_payload_bytes: int = 16_777_216
    """One job submitted to ``DurableReflectionExecutor`` as stored in the queue table: its
    payload (the conversation) and config as UTF-8 JSON. Every worker that takes the job reads
    all of it, and PostgreSQL refuses JSON over 255 MB outright; 16 MiB holds conversations far
    longer than any model's context. Submit only the new messages rather than a growing
    history."""

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"Limits.{spec.name} must be a positive whole number, got {value!r}."
                )
        if self.max_key_bytes <= BOOKKEEPING_KEY_BYTES:
            raise ConfigurationError(
                f"Limits.max_key_bytes must be above {BOOKKEEPING_KEY_BYTES}: Reverie keeps a "
                "memory's past versions under its key with a suffix."
            )
        if self.max_namespace_depth <= BOOKKEEPING_DEPTH:
            raise ConfigurationError(
                f"Limits.max_namespace_depth must be above {BOOKKEEPING_DEPTH}: Reverie keeps a "
                f"namespace's bookkeeping {BOOKKEEPING_DEPTH} labels deeper."
            )

    @property
    def memory_namespace_depth(self) -> int:
        """Labels a memory namespace may have (see ``max_namespace_depth``)."""
        return self.max_namespace_depth - BOOKKEEPING_DEPTH

    @property
    def memory_key_bytes(self) -> int:
        """Bytes a memory's key or a thread id may have (see ``max_key_bytes``)."""
        return self.max_key_bytes - BOOKKEEPING_KEY_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, with each ``REVERIE_MAX_...`` variable set in ``environ`` applied."""
        environ = os.environ if environ is None else environ
        changed: dict[str, int] = {}
        for spec in dataclasses.fields(cls):
            name = ENV_PREFIX + spec.name.upper()
            text = environ.get(name)
            if text is None or not text.strip():
                continue
            try:
                changed[spec.name] = int(text.strip().replace("_", ""))
            except ValueError:
                raise ConfigurationError(f"{name} must be a whole number, got {text!r}.") from None
        return cls(**changed)


DEFAULT_LIMITS = Limits()


def _advice(limit_name: str) -> str:
    return (
        f"(Limits.{limit_name}; for the CLI and MCP server {ENV_PREFIX}{limit_name.upper()}). "
        "Nothing was written."
    )


def check_label(label: str, limits: Limits, where: str = "namespace") -> str:
    """A label that every backend can store and index; labels are ids, so never normalised."""
    if not is_clean(label):
        problem = "a NUL character" if NUL in label else "a lone surrogate (invalid Unicode)"
        raise NamespaceError(
            f"The {where} label {quoted(label)} contains {problem}, which no store can index. "
            "Ids are not changed by Reverie (two ids must never become one): pass one without it."
        )
    size = utf8_size(label)
    if size > limits.max_label_bytes:
        raise NamespaceLimitError(
            f"The {where} label {quoted(label)} is {size:,} bytes; labels may have at most "
            f"{limits.max_label_bytes:,} bytes {_advice('max_label_bytes')} Use a shorter id, "
            "for instance a hash of this one.",
            limit_name="max_label_bytes",
            limit=limits.max_label_bytes,
            size=size,
        )
    return label


def check_depth(namespace: Sequence[str], limits: Limits, *, memory: bool) -> None:
    """Refuse namespaces deeper than the stores (or, for memories, their bookkeeping) allow."""
    allowed = limits.memory_namespace_depth if memory else limits.max_namespace_depth
    if len(namespace) > allowed:
        what = "A memory namespace" if memory else "A namespace"
        raise NamespaceLimitError(
            f"{what} may have at most {allowed} labels, got {len(namespace)} "
            f"({quoted(tuple(namespace))}) {_advice('max_namespace_depth')}",
            limit_name="max_namespace_depth",
            limit=limits.max_namespace_depth,
            size=len(namespace),
        )


def check_key(key: object, limits: Limits, what: str = "key", *, memory: bool = False) -> str:
    """A key every backend can store and index (keys, like labels, are never normalised);
    ``memory``: a memory's key or a thread id, which leaves room for bookkeeping suffixes."""
    if not isinstance(key, str):
        raise InputError(f"A {what} must be a string, got {type(key).__name__} {quoted(key)}.")
    if not is_clean(key):
        raise UnstorableValueError(
            f"The {what} {quoted(key)} contains a NUL character or a lone surrogate, which no "
            "store can index; ids are not changed by Reverie, so pass one without it.",
            field=what,
        )
    size = utf8_size(key)
    allowed = limits.memory_key_bytes if memory else limits.max_key_bytes
    if size > allowed:
        raise LimitError(
            f"The {what} {quoted(key)} is {size:,} bytes; it may have at most {allowed:,} "
            f"bytes {_advice('max_key_bytes')}",
            limit_name="max_key_bytes",
            limit=allowed,
            size=size,
        )
    return key


def value_size(value: Any) -> int:
    """Bytes ``value`` takes as stored: compact UTF-8 JSON."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return utf8_size(text)


def check_value_size(value: Any, limits: Limits, what: str = "This memory") -> int:
    """The value's stored size, or a :class:`LimitError` when it is over ``max_value_bytes``."""
    size = value_size(value)
    if size > limits.max_value_bytes:
        raise LimitError(
            f"{what} is {size:,} bytes as stored; a memory may have at most "
            f"{limits.max_value_bytes:,} bytes {_advice('max_value_bytes')} Store a shorter "
            "text, or split it into several memories.",
            limit_name="max_value_bytes",
            limit=limits.max_value_bytes,
            size=size,
        )
    return size


def check_payload_size(size: int, limits: Limits) -> int:
    """``size``, the bytes of a durable reflection job as stored, or a :class:`LimitError` when it
    is over ``max_payload_bytes`` (measured by the caller, which serialises the job once)."""
    if size > limits.max_payload_bytes:
        raise LimitError(
            f"This reflection job is {size:,} bytes as stored (its payload and config as UTF-8 "
            f"JSON); a durable job may have at most {limits.max_payload_bytes:,} bytes "
            "(Limits.max_payload_bytes). Nothing was enqueued. Submit only the messages that are "
            "new since the last submission, or split the conversation into several submissions; "
            "or raise the limit: DurableReflectionExecutor(..., limits=Limits(max_payload_bytes="
            f"...)), or {ENV_PREFIX}MAX_PAYLOAD_BYTES with limits=Limits.from_env().",
            limit_name="max_payload_bytes",
            limit=limits.max_payload_bytes,
            size=size,
        )
    return size


def check_page(limit: object, offset: object, limits: Limits) -> tuple[int, int]:
    """``limit`` and ``offset`` of a search as ints within their ranges."""
    checked = []
    for name, value, most in (
        ("limit", limit, limits.max_search_limit),
        ("offset", offset, limits.max_search_offset),
    ):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise InputError(f"A search {name} must be a whole number, got {quoted(value)}.")
        number = int(value)
        if number < 0 or number > most:
            field = f"max_search_{name}"
            raise LimitError(
                f"A search {name} must be between 0 and {most:,}, got {number:,} "
                f"(Limits.{field}). Page through results with limit and offset instead.",
                limit_name=field,
                limit=most,
                size=number,
            )
        checked.append(number)
    return checked[0], checked[1]


def check_query(query: object, limits: Limits) -> str | None:
    """A search query within ``max_query_chars``, normalised like stored text."""
    if query is None:
        return None
    if not isinstance(query, str):
        raise InputError(f"A search query must be a string, got {type(query).__name__}.")
    if len(query) > limits.max_query_chars:
        raise LimitError(
            f"The search query is {len(query):,} characters; queries may have at most "
            f"{limits.max_query_chars:,} (Limits.max_query_chars). Search for the gist of it.",
            limit_name="max_query_chars",
            limit=limits.max_query_chars,
            size=len(query),
        )
    return clean_text(query)


__all__ = [
    "BOOKKEEPING_DEPTH",
    "BOOKKEEPING_KEY_BYTES",
    "DEFAULT_LIMITS",
    "Limits",
    "check_depth",
    "check_key",
    "check_label",
    "check_page",
    "check_payload_size",
    "check_query",
    "check_value_size",
    "value_size",
]
