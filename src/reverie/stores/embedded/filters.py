"""Metadata filters with the same meaning as LangGraph's ``InMemoryStore``.

A filter maps top-level keys of an item's value to either a plain value (equality; dicts compare
key by key, lists element by element) or an operator dict such as ``{"$gte": 3}``. Operators:
``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte`` (the ordering ones compare as numbers).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from reverie.core.errors import InputError

_ORDERING: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS = frozenset({"$eq", "$ne", *_ORDERING})


def _apply(actual: Any, op: str, expected: Any) -> bool:
    if op == "$eq":
        return bool(actual == expected)
    if op == "$ne":
        return bool(actual != expected)
    compare = _ORDERING.get(op)
    if compare is None:
        raise InputError(f"Unsupported filter operator {op!r}; use one of {sorted(OPERATORS)}.")
    try:
        return compare(float(actual), float(expected))
    except (TypeError, ValueError):
        # A missing or non-numeric field cannot satisfy an ordering condition.
        return False


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if any(str(k).startswith("$") for k in expected):
            return all(_apply(actual, op, v) for op, v in expected.items())
        if not isinstance(actual, dict):
            return False
        return all(_matches(actual.get(k), v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def matches_filter(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's value satisfies every condition of ``filter``."""
    if not filter:
        return True
    return all(_matches(value.get(key), expected) for key, expected in filter.items())


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Reject unknown operators up front, before any work is done."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and k.startswith("$") and k not in OPERATORS:
                    raise InputError(
                        f"Unsupported filter operator {k!r}; use one of {sorted(OPERATORS)}."
                    )
                walk(v)

    walk(dict(filter or {}))


def sql_prefilter(filter: Mapping[str, Any] | None, column: str) -> tuple[str, list[Any]]:
    """SQL conditions that keep every row ``matches_filter`` would keep (usually exactly those).

    Only scalar equalities on top-level keys are translated; JSON numbers and booleans compare as
    numbers in SQLite as they do in Python (``True == 1``). Rows are still checked in Python, so
    this only saves decoding rows that cannot match.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, expected in (filter or {}).items():
        if not isinstance(key, str) or '"' in key or "\\" in key:
            continue
        if isinstance(expected, dict) and set(expected) == {"$eq"}:
            expected = expected["$eq"]
        if isinstance(expected, (str, int, float)) and not (
            isinstance(expected, float) and expected != expected
        ):
            clauses.append(f"json_extract({column}, ?) = ?")
            params += [f'$."{key}"', expected]
    return " AND ".join(clauses), params
