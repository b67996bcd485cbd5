"""Reverie's search filter language: one meaning on every backend, anything else refused.

A filter maps field names of a stored value to conditions, all of which must hold:

- a plain value (string, number, boolean, null): the field equals it, with Python's equality
  (``True == 1 == 1.0``); a missing field counts as null;
- a list of plain values (or lists): the field is a list of the same length whose elements
  match one by one;
- a dict of fields: the field is an object whose fields match (``{"meta": {"owner": "ann"}}``);
- a dict of operators, the ones LangGraph documents: ``$eq`` and ``$ne`` take a plain value;
  ``$gt``, ``$gte``, ``$lt`` and ``$lte`` take a number and hold only for fields that are
  numbers (never for a missing field, a string or a boolean).

Everything else (``$or``, ``$and``, ``$in``, ``$regex``, operators inside lists, non-finite
numbers, integers beyond 2**53 that no float compares exactly) is refused with one
:class:`FilterError` on every backend, as are filters over the size limits. Strings are
normalised like stored text, so a filter finds what was stored from the same input.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from reverie.core.errors import FilterError, LimitError
from reverie.core.limits import Limits
from reverie.core.text import clean_text, quoted

EQUALITY = ("$eq", "$ne")
ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS = (*EQUALITY, *ORDERING)
MAX_EXACT_INT = 2**53
_SUPPORTED = (
    "Filters support field: value and field: {op: value} with " + ", ".join(OPERATORS) + "; "
    "every condition must hold."
)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Budget:
    """What is left of a filter's size limits while it is checked (a huge filter stops early)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.items = 0
        self.chars = 0

    def item(self) -> None:
        self.items += 1
        if self.items > self.limits.max_filter_size:
            raise LimitError(
                f"The filter has more than {self.limits.max_filter_size} keys and list elements "
                "(Limits.max_filter_size). Filter on fewer fields.",
                limit_name="max_filter_size",
                limit=self.limits.max_filter_size,
                size=self.items,
            )

    def text(self, text: str) -> str:
        self.chars += len(text)
        if self.chars > self.limits.max_filter_chars:
            raise LimitError(
                f"The filter's strings have more than {self.limits.max_filter_chars:,} characters "
                "together (Limits.max_filter_chars).",
                limit_name="max_filter_chars",
                limit=self.limits.max_filter_chars,
                size=self.chars,
            )
        return clean_text(text)

    def level(self, depth: int) -> None:
        if depth > self.limits.max_filter_depth:
            raise LimitError(
                f"The filter is nested more than {self.limits.max_filter_depth} levels deep "
                "(Limits.max_filter_depth).",
                limit_name="max_filter_depth",
                limit=self.limits.max_filter_depth,
                size=depth,
            )


def checked_filter(filter: object, limits: Limits) -> dict[str, Any] | None:
    """``filter`` checked against the language and the limits, its strings normalised; None for
    no filter. Raises :class:`FilterError` or :class:`LimitError` (both ``InputError``)."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise FilterError(
            f"A filter must be a dict of field conditions, got {type(filter).__name__}. "
            + _SUPPORTED
        )
    checked = _fields(filter, _Budget(limits), 1, "filter")
    return checked or None


def _fields(node: Mapping[Any, Any], budget: _Budget, depth: int, where: str) -> dict[str, Any]:
    budget.level(depth)
    out: dict[str, Any] = {}
    for key, value in node.items():
        budget.item()
        if not isinstance(key, str):
            raise FilterError(f"Filter keys must be strings, got {quoted(key)} in {where}.")
        if key.startswith("$"):
            raise FilterError(
                f"{quoted(key)} in {where} is not a field name, and no operator may stand "
                f"there (there is no $or, $and or $not). {_SUPPORTED}"
            )
        name = budget.text(key)
        out[name] = _condition(value, budget, depth + 1, f"{where}[{quoted(key, 40)}]")
    return out


def _condition(value: Any, budget: _Budget, depth: int, where: str) -> Any:
    if isinstance(value, Mapping):
        keys = list(value)
        operators = [k for k in keys if isinstance(k, str) and k.startswith("$")]
        if not operators:
            return _fields(value, budget, depth, where)
        budget.level(depth)
        if len(operators) != len(keys):
            raise FilterError(
                f"{where} mixes operators and field names ({', '.join(map(quoted, keys[:6]))}); "
                "use either {op: value} or {field: condition}."
            )
        out: dict[str, Any] = {}
        for op in operators:
            budget.item()
            if op not in OPERATORS:
                raise FilterError(
                    f"Unsupported filter operator {quoted(op)} in {where}. {_SUPPORTED}"
                )
            out[op] = _operand(op, value[op], budget, f"{where}[{op!r}]")
        return out
    if isinstance(value, list | tuple):
        return _list(value, budget, depth, where)
    return _scalar(value, budget, where)


def _list(items: list[Any] | tuple[Any, ...], budget: _Budget, depth: int, where: str) -> list[Any]:
    budget.level(depth)
    out = []
    for i, item in enumerate(items):
        budget.item()
        if isinstance(item, Mapping):
            raise FilterError(
                f"{where}[{i}] is an object: a list in a filter is compared element by element "
                "and may only hold plain values (strings, numbers, booleans, null) and lists."
            )
        if isinstance(item, list | tuple):
            out.append(_list(item, budget, depth + 1, f"{where}[{i}]"))
        else:
            out.append(_scalar(item, budget, f"{where}[{i}]"))
    return out


def _operand(op: str, value: Any, budget: _Budget, where: str) -> Any:
    if op in ORDERING:
        if not is_number(value):
            raise FilterError(f"{op} compares numbers; {where} is {quoted(value)}.")
        return _scalar(value, budget, where)
    if isinstance(value, Mapping | list | tuple):
        raise FilterError(
            f"{op} takes a plain value (string, number, boolean or null); {where} is a "
            f"{type(value).__name__}. Compare lists and objects without an operator."
        )
    return _scalar(value, budget, where)


def _scalar(value: Any, budget: _Budget, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return budget.text(value)
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INT:
            raise FilterError(
                f"{where} is an integer beyond ±2**53, which stores compare inexactly; "
                "filter on a smaller number or store it as a string."
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{where} is {value}; filters compare finite numbers only.")
        return value
    raise FilterError(
        f"{where} is a {type(value).__name__}; filter values are strings, numbers, booleans, "
        "null, lists of those, or conditions."
    )


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether a stored value satisfies a :func:`checked_filter` filter (the reference meaning
    every backend implements)."""
    if not filter:
        return True
    return all(_matches(value.get(key), expected) for key, expected in filter.items())


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if expected and next(iter(expected)).startswith("$"):
            return all(_apply(actual, op, operand) for op, operand in expected.items())
        if not isinstance(actual, dict):
            return False
        return all(_matches(actual.get(key), cond) for key, cond in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return _equal(actual, expected)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, dict | list):
        return False
    return bool(actual == expected)


def _apply(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return _equal(actual, operand)
    if op == "$ne":
        return not _equal(actual, operand)
    return is_number(actual) and ORDERING[op](actual, operand)


def has_ordering(filter: Mapping[str, Any] | None) -> bool:
    """Whether a checked filter uses an ordering operator anywhere."""

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return any(key in ORDERING or walk(value) for key, value in node.items())
        return False

    return walk(dict(filter or {}))


__all__ = ["OPERATORS", "checked_filter", "has_ordering", "is_number", "matches"]
