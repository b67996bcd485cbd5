"""Search filters in SQL, with the meaning LangGraph's InMemoryStore gives them.

Numbers compare as numbers (so 3 < 12), nested objects match field by field
(``{"meta": {"owner": "ann"}}``), a missing field is not equal to anything (``$ne`` matches it,
ordering operators do not) and equality follows Python's, where ``True == 1 == 1.0``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reverie.core.errors import InputError

VALUE = "store.value"
_ORDERING = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def filter_clause(filter: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """SQL (starting with `` AND ``, or empty) keeping the rows ``filter`` matches."""
    if not filter:
        return "", []
    parts = [condition([str(key)], expected) for key, expected in filter.items()]
    sql = "".join(f" AND ({part})" for part, _ in parts)
    return sql, [param for _, params in parts for param in params]


def condition(path: list[str], expected: Any) -> tuple[str, list[Any]]:
    """SQL true when the stored value at ``path`` matches ``expected`` as InMemoryStore would."""
    if isinstance(expected, dict):
        if any(str(k).startswith("$") for k in expected):
            parts = [_operator(path, op, v) for op, v in expected.items()]
        else:
            parts = [condition([*path, str(k)], v) for k, v in expected.items()]
        if len(path) > 1:
            # A nested match needs the parent to be an object, as InMemoryStore requires.
            parts.insert(0, (f"jsonb_typeof({VALUE} #> %s) = 'object'", [path[:-1]]))
        if not parts:
            return "TRUE", []
        sql = " AND ".join(f"({p})" for p, _ in parts)
        return sql, [param for _, params in parts for param in params]
    return _equals(path, expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(path: list[str], expected: Any) -> tuple[str, list[Any]]:
    """Equality as Python sees it, where ``True == 1 == 1.0`` and ``False == 0``."""
    if not (isinstance(expected, bool) or _is_number(expected)):
        return f"({VALUE} #> %s) = %s::jsonb", [path, _json(expected)]
    number = float(expected)
    sql = f"(jsonb_typeof({VALUE} #> %s) = 'number' AND ({VALUE} #> %s)::numeric = %s::numeric)"
    params: list[Any] = [path, path, repr(number)]
    if number in (0.0, 1.0):
        sql = f"({sql} OR ({VALUE} #> %s) = %s::jsonb)"
        params += [path, json.dumps(number == 1.0)]
    return sql, params


def _operator(path: list[str], operator: str, value: Any) -> tuple[str, list[Any]]:
    if operator == "$eq":
        return _equals(path, value)
    if operator == "$ne":
        sql, params = _equals(path, value)
        return f"NOT COALESCE({sql}, false)", params
    if operator in _ORDERING:
        sign = _ORDERING[operator]
        if _is_number(value):
            return (
                f"(jsonb_typeof({VALUE} #> %s) = 'number' AND ({VALUE} #> %s)::numeric {sign} %s)",
                [path, path, value],
            )
        # Strings compare by code point, as Python compares them.
        return (
            f"(jsonb_typeof({VALUE} #> %s) = 'string' "
            f'AND ({VALUE} #>> %s) COLLATE "C" {sign} %s)',
            [path, path, str(value)],
        )
    raise InputError(
        f"Unsupported filter operator {operator!r}; use $eq, $ne, $gt, $gte, $lt or $lte."
    )


def _json(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"Filter values must be JSON values (str, number, bool, None, list, dict); got "
            f"{type(value).__name__}."
        ) from exc
