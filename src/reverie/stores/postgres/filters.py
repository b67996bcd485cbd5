"""Search filters in SQL, with exactly the meaning of Reverie's filter language.

The filter was checked (``reverie.core.filters.checked_filter``) before it gets here; this module
mirrors ``reverie.core.filters.matches`` condition by condition: a missing field counts as JSON
null, equality follows Python's (``True == 1 == 1.0``), a nested object matches field by field,
a list element by element, and ordering operators hold only for JSON numbers. Every
type-dependent comparison sits in a ``CASE``, which PostgreSQL evaluates in order, so a cast is
never attempted on a value of the wrong type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reverie.core.errors import FilterError

VALUE = "store.value"
_ORDERING = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

Clause = tuple[str, list[Any]]


def filter_clause(filter: Mapping[str, Any] | None) -> Clause:
    """SQL (starting with `` AND ``, or empty) keeping the rows ``filter`` matches."""
    if not filter:
        return "", []
    parts = [condition([str(key)], expected) for key, expected in filter.items()]
    sql = "".join(f" AND ({part})" for part, _ in parts)
    return sql, [param for _, params in parts for param in params]


def _at(path: list[str]) -> Clause:
    """The JSON value at ``path``; a missing one is null (as ``dict.get`` gives None)."""
    return f"COALESCE({VALUE} #> %s::text[], 'null'::jsonb)", [path]


def _all(parts: list[Clause]) -> Clause:
    if not parts:
        return "TRUE", []
    return " AND ".join(f"({p})" for p, _ in parts), [x for _, params in parts for x in params]


def condition(path: list[str], expected: Any) -> Clause:
    """SQL true when the stored value at ``path`` matches ``expected``."""
    value, params = _at(path)
    if isinstance(expected, dict):
        if expected and next(iter(expected)).startswith("$"):
            return _all([_operator(path, op, operand) for op, operand in expected.items()])
        is_object = (f"jsonb_typeof({value}) = 'object'", params)
        return _all([is_object, *(condition([*path, str(k)], v) for k, v in expected.items())])
    if isinstance(expected, list):
        elements, element_params = _all(
            [condition([*path, str(i)], item) for i, item in enumerate(expected)]
        )
        return (
            f"CASE WHEN jsonb_typeof({value}) <> 'array' THEN false "
            f"WHEN jsonb_array_length({value}) <> %s THEN false ELSE ({elements}) END",
            [*params, *params, len(expected), *element_params],
        )
    return _equals(path, expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(path: list[str], expected: Any) -> Clause:
    """Equality as Python sees it, where ``True == 1 == 1.0`` and ``False == 0``."""
    value, params = _at(path)
    if expected is None or isinstance(expected, str):
        return f"{value} = %s::jsonb", [*params, json.dumps(expected)]
    if not (isinstance(expected, bool) or _is_number(expected)):
        raise FilterError(f"Cannot compare with {type(expected).__name__} in a filter.")
    number = float(expected) if isinstance(expected, float) else int(expected)
    as_boolean = "true" if number == 1 else "false" if number == 0 else "null"
    return (
        f"CASE jsonb_typeof({value}) WHEN 'number' THEN ({value})::numeric = %s::numeric "
        f"WHEN 'boolean' THEN {value} = %s::jsonb ELSE false END",
        [*params, *params, repr(number), *params, as_boolean],
    )


def _operator(path: list[str], operator: str, operand: Any) -> Clause:
    if operator == "$eq":
        return _equals(path, operand)
    if operator == "$ne":
        sql, params = _equals(path, operand)
        return f"NOT ({sql})", params
    if operator in _ORDERING and _is_number(operand):
        value, params = _at(path)
        return (
            f"CASE WHEN jsonb_typeof({value}) = 'number' "
            f"THEN ({value})::numeric {_ORDERING[operator]} %s::numeric ELSE false END",
            [*params, *params, repr(operand)],
        )
    raise FilterError(f"Unsupported filter condition {operator!r} {operand!r}.")
