"""Search filters with the same meaning as LangGraph's InMemoryStore.

LangGraph's PostgresStore compares ``$gt``/``$lt`` filters as text (so 12 < 3) and rejects
nested objects such as ``{"meta": {"owner": "ann"}}``. These conditions compare numbers as
numbers, match nested objects field by field, treat a missing field as not equal (``$ne``) and
follow Python's equality, where ``True == 1``.
"""

from __future__ import annotations

import json
from typing import Any

_ORDERING = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(path: list[str], expected: Any) -> tuple[str, list[Any]]:
    """Equality as Python sees it, where ``True == 1 == 1.0`` and ``False == 0``."""
    if not (isinstance(expected, bool) or _is_number(expected)):
        return "(value #> %s) = %s::jsonb", [path, json.dumps(expected)]
    number = float(expected)
    sql = "(jsonb_typeof(value #> %s) = 'number' AND (value #> %s)::numeric = %s::numeric)"
    params: list[Any] = [path, path, repr(number)]
    if number in (0.0, 1.0):
        sql = f"({sql} OR (value #> %s) = %s::jsonb)"
        params += [path, json.dumps(number == 1.0)]
    return sql, params


def _operator_sql(path: list[str], operator: str, value: Any) -> tuple[str, list[Any]]:
    if operator == "$eq":
        return _equals(path, value)
    if operator == "$ne":
        sql, params = _equals(path, value)
        return f"NOT COALESCE({sql}, false)", params
    if operator in _ORDERING:
        sign = _ORDERING[operator]
        if _is_number(value):
            return (
                f"(jsonb_typeof(value #> %s) = 'number' AND (value #> %s)::numeric {sign} %s)",
                [path, path, value],
            )
        return f"(value #>> %s) {sign} %s", [path, str(value)]
    raise ValueError(
        f"Unsupported filter operator {operator!r}; use $eq, $ne, $gt, $gte, $lt or $lte."
    )


def condition(path: list[str], expected: Any) -> tuple[str, list[Any]]:
    """SQL true when the stored value at ``path`` matches ``expected`` as InMemoryStore would."""
    if isinstance(expected, dict):
        if any(str(k).startswith("$") for k in expected):
            parts = [_operator_sql(path, op, v) for op, v in expected.items()]
        else:
            parts = [condition([*path, str(k)], v) for k, v in expected.items()]
        if len(path) > 1:
            # A nested match needs the parent to be an object, as InMemoryStore requires.
            parts.insert(0, ("jsonb_typeof(value #> %s) = 'object'", [path[:-1]]))
        if not parts:
            return "TRUE", []
        sql = " AND ".join(f"({p})" for p, _ in parts)
        return sql, [param for _, params in parts for param in params]
    return _equals(path, expected)


def as_operator_filter(filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """Route plain ``{"key": value}`` filters through :func:`filter_condition` as ``$eq``."""
    if not filter:
        return filter
    return {k: v if isinstance(v, dict) else {"$eq": v} for k, v in filter.items()}


def filter_condition(key: str, operator: str, value: Any) -> tuple[str, list[Any]]:
    """What LangGraph asks for each ``(key, operator, value)`` of a dict-valued filter."""
    if operator.startswith("$"):
        return condition([key], {operator: value})
    return condition([key, operator], value)
