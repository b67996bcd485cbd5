"""Namespaces in SQL: the dotted ``prefix`` column, scoping conditions, per-namespace locks and
namespace listings.

LangGraph stores a namespace as its labels joined by ``.`` (labels may not contain one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.store.base import ListNamespacesOp, MatchCondition

from reverie.core.errors import NamespaceError
from reverie.stores.postgres.steps import Plan, Sql

ALIVE = "(store.expires_at IS NULL OR store.expires_at > statement_timestamp())"
"""Rows whose TTL has not run out: expired rows are never returned, swept or not."""

# Every commit and every writing batch takes these transaction-scoped locks, one per namespace
# it touches, before reading or writing any row. Keys are taken in ascending order in one
# statement, so two writers always lock in the same order and cannot deadlock, whatever
# namespaces they share (even two namespaces whose keys collide). The subquery's order is kept:
# the lock function is volatile, so PostgreSQL evaluates it row by row over the sorted keys.
LOCK_NAMESPACES = (
    "SELECT pg_advisory_xact_lock(lock_key) FROM ("
    "SELECT DISTINCT hashtextextended('reverie:ns:' || path, 0) AS lock_key "
    "FROM unnest(%s::text[]) AS t(path) ORDER BY lock_key) AS keys"
)


def as_text(namespace: Sequence[str]) -> str:
    return ".".join(namespace)


def from_text(prefix: str) -> tuple[str, ...]:
    return tuple(prefix.split("."))


def lock_namespaces(paths: Sequence[str]) -> Plan[None]:
    """Hold the write locks of the namespaces ``paths`` (dotted) until the transaction ends."""
    if paths:
        yield from Sql(LOCK_NAMESPACES, [list(paths)])


def checked(namespace: tuple[str, ...]) -> tuple[str, ...]:
    """``namespace`` if every label is a non-empty string without ``.``; else NamespaceError."""
    for label in namespace:
        if not isinstance(label, str) or not label or "." in label or "\x00" in label:
            raise NamespaceError(
                f"Invalid namespace {namespace!r}: every label must be a non-empty string "
                "without '.' or NUL characters. Rename the offending label."
            )
    return tuple(namespace)


def scope(column: str, namespace: tuple[str, ...], descendants: bool) -> tuple[str, list[Any]]:
    """SQL limiting ``column`` to ``namespace`` (and, with ``descendants``, every namespace
    below it, as LangGraph's prefix search does). The empty prefix means all of them; the empty
    namespace itself holds nothing (no put can write there)."""
    if not namespace:
        return ("TRUE" if descendants else "FALSE"), []
    path = as_text(namespace)
    if not descendants:
        return f"{column} = %s", [path]
    # A whole-label prefix: ('a', 'b') covers a.b and a.b.c but not a.bc.
    return f"({column} = %s OR {column} LIKE %s ESCAPE '\\')", [path, _like_literal(path) + ".%"]


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


LIST_PREFIXES = f"SELECT DISTINCT store.prefix FROM store WHERE {ALIVE}"


def list_namespaces(op: ListNamespacesOp) -> Plan[list[tuple[str, ...]]]:
    """Namespaces holding live items, matched, truncated, sorted and paged as InMemoryStore does.

    The database narrows by the literal labels a prefix condition starts with; matching,
    truncation and ordering (label by label, as Python sorts tuples) happen here.
    """
    conditions = tuple(op.match_conditions or ())
    check_listing(op)
    query, params = LIST_PREFIXES, list[Any]()
    leading = _literal_prefix(conditions)
    if leading:
        where, params = scope("store.prefix", leading, descendants=True)
        query = f"{LIST_PREFIXES} AND {where}"
    rows = yield from Sql(query, params)
    found = {from_text(row["prefix"]) for row in rows}
    matching = [ns for ns in found if all(_matches(c, ns) for c in conditions)]
    if op.max_depth is not None:
        matching = list({ns[: op.max_depth] for ns in matching})
    return sorted(matching)[op.offset : op.offset + op.limit]


def check_listing(op: ListNamespacesOp) -> None:
    """Refuse match conditions with labels no namespace may have (``checked``)."""
    for condition in op.match_conditions or ():
        try:
            checked(tuple(label for label in condition.path if label != "*"))
        except NamespaceError as exc:
            raise NamespaceError(f"list_namespaces: {exc}") from None


def _literal_prefix(conditions: Sequence[MatchCondition]) -> tuple[str, ...]:
    for condition in conditions:
        if condition.match_type == "prefix":
            labels: list[str] = []
            for label in condition.path:
                if label == "*":
                    break
                labels.append(label)
            if labels:
                return tuple(labels)
    return ()


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise NamespaceError(
            f"Unsupported namespace match type {condition.match_type!r}; use 'prefix' or 'suffix'."
        )
    return all(want in ("*", label) for label, want in pairs)
