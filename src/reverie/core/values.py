"""The value policy: what a stored value may hold, applied the same way on every backend.

Where a value enters Reverie (a model's reply, a tool call, an application's ``put``, a durable
job, an import, the MCP server) :func:`normalised_value` normalises its text (``clean_text``:
NUL characters removed, lone surrogates replaced by ``?``) and refuses NaN and Infinity, which
JSON cannot hold, with an :class:`UnstorableValueError` naming the field.

Reverie's own stores check what reaches them directly (:func:`storable_json`): a value holding
NUL characters, lone surrogates or non-finite numbers is refused with the same error on the
embedded store and on PostgreSQL (which cannot store them at all), before anything is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from reverie.core.errors import InputError, UnstorableValueError
from reverie.core.text import clean_text, is_clean, quoted


def _path(parent: str, key: object) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    name = quoted(key, 40) if not isinstance(key, str) or not key.isidentifier() else key
    return f"{parent}.{name}" if parent else name


def _non_finite(number: float, field: str) -> UnstorableValueError:
    return UnstorableValueError(
        f"{field or 'The value'} is {number}, which JSON (and so no store) cannot hold. Store a "
        "finite number, null, or a string such as 'NaN'; nothing was written.",
        field=field or "value",
    )


# Levels of dicts and lists a value may have. Checking, normalising and encoding a value take a
# Python frame per level, so a value a few hundred levels deep (a hostile tool call, say) would
# end in a RecursionError; real memories and conversations stay within a dozen.
MAX_VALUE_DEPTH = 100


def check_value_depth(value: Any, what: str = "The value") -> None:
    """Refuse ``value`` with an :class:`UnstorableValueError` if it is nested deeper than
    :data:`MAX_VALUE_DEPTH` (measured without recursion)."""
    if nesting_depth(value, MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH:
        raise UnstorableValueError(
            f"{what} is nested more than {MAX_VALUE_DEPTH} levels deep (dicts and lists), which "
            "Reverie does not store. Flatten it, or keep the deep part as a JSON string; nothing "
            "was written.",
            field="value",
        )


def normalised_value(value: Any, field: str = "") -> Any:
    """``value`` with every string (keys included) normalised; NaN or Infinity anywhere raise
    :class:`UnstorableValueError` naming the field, as does nesting deeper than
    :data:`MAX_VALUE_DEPTH`. Tuples become lists; other values are kept."""
    check_value_depth(value, field or "The value")
    return _normalised(value, field)


def _normalised(value: Any, field: str) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _non_finite(value, field)
    if isinstance(value, Mapping):
        return {
            clean_text(k) if isinstance(k, str) else k: _normalised(v, _path(field, k))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_normalised(v, _path(field, i)) for i, v in enumerate(value)]
    return value


def storable_json(value: Any, what: str = "The value") -> str:
    """``value`` as compact JSON for a store, or a typed error saying which field no backend
    can store (checked on the serialised text, so a clean value costs one pass)."""
    check_value_depth(value, what)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        field = next((f for f, problem in _problems(value) if problem == "number"), "value")
        raise _non_finite(_number_at(value, field), field) from None
    except (TypeError, RecursionError) as exc:
        raise InputError(
            f"{what} cannot be stored as JSON ({exc}); store plain dicts, lists, strings, "
            "finite numbers, booleans and None; nothing was written."
        ) from exc
    # JSON escapes NUL as \u0000; an escaped backslash before "u0000" only looks like one.
    suspicious = "\\u0000" in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        suspicious = True
    if suspicious:
        for field, problem in _problems(value):
            if problem == "text":
                raise UnstorableValueError(
                    f"{field or 'The value'} holds a NUL character or a lone surrogate, which "
                    "PostgreSQL cannot store (so no Reverie store accepts it). Remove them "
                    "(reverie.core.text.clean_text does) before storing; nothing was written.",
                    field=field or "value",
                )
    return text


def _problems(value: Any, field: str = "") -> Iterator[tuple[str, str]]:
    """(field, "text" | "number") for every string or number no backend can store."""
    if isinstance(value, str):
        if not is_clean(value):
            yield field, "text"
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield field, "number"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = _path(field, key)
            if isinstance(key, str) and not is_clean(key):
                yield where, "text"
            yield from _problems(item, where)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _problems(item, _path(field, i))


def _number_at(value: Any, field: str) -> float:
    for where, number in _numbers(value):
        if where == field:
            return number
    return float("nan")


def _numbers(value: Any, field: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, float):
        yield field, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _numbers(item, _path(field, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _numbers(item, _path(field, i))


def unstorable_fields(value: Any, *, numbers_only: bool = False) -> list[str]:
    """The fields of ``value`` no store accepts (NaN or Infinity, NUL, lone surrogates; with
    ``numbers_only``, only the non-finite numbers)."""
    return [
        field or "value"
        for field, problem in _problems(value)
        if problem == "number" or not numbers_only
    ]


# Every store write measures its value's depth, so the walk skips plain values with cheap type
# checks first (an isinstance against the Mapping ABC costs ten times more) and queues only
# containers: a value of 2,000 strings takes ~30 us instead of ~420 us (json.dumps: ~70 us).
_PLAIN = (str, int, float, type(None))
_CONTAINERS = (dict, list, tuple, Mapping)  # checked in this order: the ABC last


def _is_container(value: Any) -> bool:
    return not isinstance(value, _PLAIN) and isinstance(value, _CONTAINERS)


def nesting_depth(value: Any, most: int) -> int:
    """Levels of dicts and lists in ``value`` (``{"a": [1]}`` is 2, a string 0), counted without
    recursion, so any nesting can be measured; counting stops once it is over ``most``."""
    if not _is_container(value):
        return 0
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, level = pending.pop()
        if level > deepest:
            deepest = level
            if deepest > most:
                break
        children: Iterable[Any] = node.values() if isinstance(node, Mapping) else node
        for child in children:
            if not isinstance(child, _PLAIN) and isinstance(child, _CONTAINERS):
                pending.append((child, level + 1))
    return deepest


def cut_nesting(value: Any, levels: int) -> Any:
    """``value`` itself when it has at most ``levels`` levels of dicts and lists; otherwise a
    copy in which each dict or list below ``levels`` is None, built without recursion."""
    if nesting_depth(value, levels) <= levels:
        return value
    top: list[Any] = [None]
    # (node, the container its copy goes into, the slot there, the node's level)
    pending: list[tuple[Any, Any, Any, int]] = [(value, top, 0, 1)]
    while pending:
        node, parent, slot, level = pending.pop()
        copy: dict[Any, Any] | list[Any]
        if isinstance(node, Mapping):
            children: Iterable[tuple[Any, Any]] = node.items()
            copy = dict.fromkeys(node)  # the keys in their order; values are filled in below
        elif isinstance(node, list | tuple):
            children = enumerate(node)
            copy = [None] * len(node)
        else:
            parent[slot] = node
            continue
        if level > levels:
            continue  # its slot stays None
        parent[slot] = copy
        pending.extend((child, copy, key, level + 1) for key, child in children)
    return top[0]


__all__ = [
    "MAX_VALUE_DEPTH",
    "check_value_depth",
    "cut_nesting",
    "nesting_depth",
    "normalised_value",
    "storable_json",
    "unstorable_fields",
]
