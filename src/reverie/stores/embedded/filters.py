"""Search filters on the embedded store: Reverie's filter language (``reverie.core.filters``,
checked when a batch is planned) evaluated in Python, after an SQL prefilter that only skips
decoding rows that cannot match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie.core.filters import matches


def matches_filter(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's value satisfies every condition of a checked ``filter``."""
    return matches(value, filter)


def sql_prefilter(filter: Mapping[str, Any] | None, column: str) -> tuple[str, list[Any]]:
    """SQL conditions that keep every row ``matches_filter`` would keep (usually exactly those).

    Only scalar equalities on top-level keys are translated; JSON numbers and booleans compare as
    numbers in SQLite as they do in Python (``True == 1``). Rows are still checked in Python, so
    this only saves decoding rows that cannot match.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, expected in (filter or {}).items():
        # A key JSON would escape (a quote, a backslash, a control character) is not found by
        # SQLite's quoted path: leave its condition to Python.
        if not isinstance(key, str) or not key.isprintable() or '"' in key or "\\" in key:
            continue
        if isinstance(expected, dict) and set(expected) == {"$eq"}:
            expected = expected["$eq"]
        if isinstance(expected, (str, int, float)) and not (
            isinstance(expected, float) and expected != expected
        ):
            clauses.append(f"json_extract({column}, ?) = ?")
            params += [f'$."{key}"', expected]
    return " AND ".join(clauses), params
