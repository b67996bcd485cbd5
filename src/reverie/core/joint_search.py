"""``NamespaceSearch.also`` for stores that rank one namespace (or one prefix) at a time.

Each namespace of such a search becomes a search of its own, asking for the whole page; the
lists are merged by score (a cosine with a query, so one measure across namespaces), best first,
then paged. Reverie's embedded store ranks them in one pool instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from langgraph.store.base import Result, SearchItem

from reverie.core.ports import NamespaceSearch, PortOp

Joiner = Callable[[list[Result]], list[Result]]


def split_joint(ops: Sequence[PortOp]) -> tuple[list[PortOp], Joiner]:
    """``ops`` with every search that has ``also`` split into one search per namespace, and the
    function that turns the split ops' results back into results in the order of ``ops``."""
    if not any(isinstance(op, NamespaceSearch) and op.also for op in ops):
        return list(ops), lambda results: results
    flat: list[PortOp] = []
    spans: list[tuple[int, int, PortOp]] = []  # (first, end) in ``flat`` of each op
    for op in ops:
        parts = _parts(op) if isinstance(op, NamespaceSearch) and op.also else [op]
        spans.append((len(flat), len(flat) + len(parts), op))
        flat.extend(parts)

    def join(results: list[Result]) -> list[Result]:
        joined: list[Result] = []
        for first, end, op in spans:
            if end - first == 1 and not (isinstance(op, NamespaceSearch) and op.also):
                joined.append(results[first])
                continue
            assert isinstance(op, NamespaceSearch)
            found = [i for r in results[first:end] for i in cast(list[SearchItem], r or [])]
            # Stable: equal scores keep the search's namespace first, then ``also``'s order.
            found.sort(key=lambda i: (i.score is None, -(i.score or 0.0)))
            joined.append(found[op.offset : op.offset + op.limit])
        return joined

    return flat, join


def _parts(op: NamespaceSearch) -> list[NamespaceSearch]:
    page = op._replace(also=(), limit=op.offset + op.limit, offset=0)
    return [page] + [
        page._replace(namespace=a.namespace, filter=a.filter, descendants=False) for a in op.also
    ]


__all__ = ["Joiner", "split_joint"]
