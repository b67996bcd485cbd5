"""Vector search that stays correct inside one namespace of a large table.

pgvector's HNSW index filters *after* walking the graph: with the default ``hnsw.ef_search`` of
40 it hands back at most 40 nearest rows of the whole table, and the namespace filter then keeps
only those that belong to the namespace searched. For a small namespace in a big table that is
usually nothing at all. Two remedies, chosen per search:

- a namespace small enough (``exact_below`` items or fewer) is searched exactly: every vector in
  it is compared with the query, found through the namespace's B-tree index. This is also the
  fastest plan for small namespaces.
- larger namespaces (and searches over every namespace) use the HNSW index with pgvector's
  iterative scan (pgvector 0.8+), which keeps walking the graph until enough rows pass the filter,
  in strict distance order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import SearchItem, SearchOp

# LangGraph helpers reused so namespace matching and row decoding stay identical to PostgresStore.
from langgraph.store.postgres.base import (
    PLACEHOLDER,
    _decode_ns_bytes,
    _namespace_prefix_condition,
    _row_to_search_item,
    get_distance_operator,
)


@dataclass(frozen=True)
class SearchTuning:
    """How vector searches are planned; see the module docstring."""

    exact_below: int = 10_000
    """Namespaces holding at most this many items are searched exactly."""
    iterative_scan: bool = True
    """Use pgvector's iterative HNSW scan for larger namespaces (needs pgvector 0.8 or later)."""
    max_scan_tuples: int = 1_000_000
    """Upper bound on index entries one iterative scan may visit before giving up."""


def score_expression(store: Any) -> str:
    """The distance expression LangGraph orders its vector queries by, as it appears in the SQL."""
    operator, _ = get_distance_operator(store)
    vector_type = store.index_config.get("ann_index_config", {}).get("vector_type", "vector")
    return str(operator % ("%s", vector_type))


def namespace_count_query(op: SearchOp, cap: int) -> tuple[str, list[Any]] | None:
    """SQL counting the namespace's items up to ``cap + 1``; None for an all-namespace search."""
    if not op.namespace_prefix:
        return None
    condition, params = _namespace_prefix_condition(op.namespace_prefix)
    query = f"SELECT count(*) AS n FROM (SELECT 1 FROM store WHERE {condition} LIMIT %s) AS s"
    return query, [*params, cap + 1]


def exact_variant(query: str, score: str) -> str | None:
    """The same query ordered by an expression no index can serve, forcing an exact scan.

    Returns None when the SQL does not have the expected shape, so the caller falls back to the
    approximate plan rather than run something unverified.
    """
    needle = f"ORDER BY {score} ASC"
    if needle not in query:
        return None
    return query.replace(needle, f"ORDER BY ({score}) + 0 ASC", 1)


def ann_settings(tuning: SearchTuning, op: SearchOp) -> tuple[str, list[Any]]:
    """Transaction-local pgvector settings for one approximate search."""
    ef_search = min(1000, max(40, 2 * (op.limit + op.offset) + 1))
    return (
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', true),"
        " set_config('hnsw.max_scan_tuples', %s, true),"
        " set_config('hnsw.ef_search', %s, true)",
        [str(tuning.max_scan_tuples), str(ef_search)],
    )


def fill_query_vectors(
    queries: list[tuple[str, list[Any]]],
    requests: Sequence[tuple[int, str]],
    vectors: Sequence[Sequence[float]],
) -> None:
    """Put each query's embedding where LangGraph left a placeholder for it."""
    for (index, _), vector in zip(requests, vectors, strict=True):
        params = queries[index][1]
        for i, value in enumerate(params):
            if value is PLACEHOLDER:
                params[i] = vector


def to_items(rows: Sequence[Any], loader: Any) -> list[SearchItem]:
    return [_row_to_search_item(_decode_ns_bytes(row["prefix"]), row, loader=loader) for row in rows]
