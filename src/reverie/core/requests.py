"""Checking store operations before a store runs them: the one place the store-level limits and
the filter language are applied, by Reverie's own stores (in their op planning) and by the
adapter that gives any other LangGraph store the storage port.

Searches get their query, filter, limit and offset checked (the filter and query normalised);
writes get their namespace and key checked against the identifier limits. Reads of a namespace
or key no write could have made simply find nothing, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

from reverie.core.errors import NamespaceError
from reverie.core.filters import checked_filter
from reverie.core.limits import Limits, check_depth, check_key, check_label, check_page, check_query
from reverie.core.ports import (
    NamespaceSearch,
    PortOp,
    Write,
    check_search_options,
    write_target,
)
from reverie.core.text import is_clean

SearchRequest = SearchOp | NamespaceSearch


def checked_search(op: SearchRequest, limits: Limits) -> SearchRequest:
    """``op`` with its query and filter normalised, after checking them, its limit and offset
    (and a :class:`NamespaceSearch`'s ranking options)."""
    if isinstance(op, NamespaceSearch):
        check_search_options(op)
        if op.also:
            also = tuple(a._replace(filter=checked_filter(a.filter, limits)) for a in op.also)
            op = op._replace(also=also)
    limit, offset = check_page(op.limit, op.offset, limits)
    return op._replace(
        query=check_query(op.query, limits),
        filter=checked_filter(op.filter, limits),
        limit=limit,
        offset=offset,
    )


def checked_search_args(
    query: str | None,
    filter: dict[str, Any] | None,
    limit: int,
    offset: int,
    limits: Limits,
) -> tuple[str | None, dict[str, Any] | None, int, int]:
    """A caller's search arguments checked against its own ``limits`` (query and filter
    normalised), before any search; the store checks them against its limits again."""
    checked = checked_search(
        NamespaceSearch((), query=query, filter=filter, limit=limit, offset=offset), limits
    )
    return checked.query, checked.filter, checked.limit, checked.offset


def check_target(namespace: Sequence[Any], key: Any, limits: Limits) -> None:
    """Refuse a write whose namespace or key a store could not keep (or not on every backend)."""
    for label in namespace:
        if not isinstance(label, str):
            raise NamespaceError(
                f"Every namespace label must be a string, got {type(label).__name__}."
            )
        check_label(label, limits)
    check_depth(namespace, limits, memory=False)
    check_key(key, limits)


def never_written(namespace: Sequence[Any], key: str | None) -> bool:
    """Whether no write could have made ``namespace`` (a namespace, or a prefix of one) or its
    ``key``: a label or key that is not a string, or holds a NUL character or a lone
    surrogate. A read of it finds nothing, without asking the backend (which may not even
    accept the text: PostgreSQL refuses NUL, and neither SQLite nor psycopg can encode a lone
    surrogate). Sizes over the limits do not count: a LangGraph-written database may hold such
    ids, and they stay readable."""
    texts = [*namespace, key] if key is not None else list(namespace)
    return not all(isinstance(text, str) and is_clean(text) for text in texts)


def reads_nothing(op: PortOp) -> bool:
    """Whether ``op`` is a read, or a delete, of a namespace or key no write could have made
    (``never_written``): its result is what a read of nothing gives (None, ``[]``, no change),
    the same in every store, without asking the backend."""
    if isinstance(op, GetOp) or (isinstance(op, PutOp) and op.value is None):
        return never_written(op.namespace, op.key)
    if isinstance(op, SearchOp):
        return never_written(op.namespace_prefix, None)
    if isinstance(op, NamespaceSearch):
        return never_written(op.namespace, None)
    if isinstance(op, ListNamespacesOp):
        return any(never_written(c.path, None) for c in op.match_conditions or ())
    return False


def checked_ops(ops: Iterable[PortOp], limits: Limits) -> list[PortOp]:
    """``ops`` with every search checked and normalised and every put's target checked."""
    out: list[PortOp] = []
    for op in ops:
        if isinstance(op, SearchOp | NamespaceSearch):
            op = checked_search(op, limits)
        elif isinstance(op, PutOp) and op.value is not None:
            check_target(op.namespace, op.key, limits)
        out.append(op)
    return out


def check_writes(writes: Sequence[Write], limits: Limits) -> None:
    """Refuse a commit with any write whose target a store could not keep."""
    for write in writes:
        namespace, key = write_target(write)
        if not (isinstance(write, PutOp) and write.value is None):
            check_target(namespace, key, limits)


__all__ = [
    "check_target",
    "check_writes",
    "checked_ops",
    "checked_search",
    "checked_search_args",
    "never_written",
    "reads_nothing",
]
