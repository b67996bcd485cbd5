"""Search filters with the same meaning as LangGraph's InMemoryStore.

LangGraph's PostgresStore compares ``$gt``/``$lt`` filters as text (so 12 < 3) and rejects
nested objects such as ``{"meta": {"owner": "ann"}}``. These conditions compare numbers as
numbers, match nested objects field by field and treat a missing field as not equal (``$ne``).
"""

from __future__ import annotations

import json
from typing import Any

_ORDERING = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _operator_sql(path: list[str], operator: str, value: Any) -> tuple[str, list[Any]]:
    if operator == "$eq":
        return "(value #> %s) = %s::jsonb", [path, json.dumps(value)]
    if operator == "$ne":
        return "(value #> %s) IS DISTINCT FROM %s::jsonb", [path, json.dumps(value)]
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
    return "(value #> %s) = %s::jsonb", [path, json.dumps(expected)]


def filter_condition(key: str, operator: str, value: Any) -> tuple[str, list[Any]]:
    """What LangGraph asks for each ``(key, operator, value)`` of a dict-valued filter."""
    if operator.startswith("$"):
        return condition([key], {operator: value})
    return condition([key, operator], value)
