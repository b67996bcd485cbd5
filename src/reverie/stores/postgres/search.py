"""Vector search that stays correct inside one namespace of a large table.

pgvector's HNSW index filters *after* walking the graph: with the default ``hnsw.ef_search`` of
40 it hands back at most 40 nearest rows of the whole table, and the namespace filter then keeps
only those that belong to the namespace searched. For a small namespace in a big table that is
usually nothing at all. Two remedies, chosen per search:

- a namespace small enough (``exact_below`` items or fewer, default 2,000) is searched exactly: every vector in
  it is compared with the query, found through the namespace's B-tree index. This is also the
  fastest plan for small namespaces.
- larger namespaces (and searches over every namespace) use the HNSW index with pgvector's
  iterative scan (pgvector 0.8+), which keeps walking the graph until enough rows pass the filter,
  in strict distance order. Connections opened by Reverie carry these settings for the session;
  other connections get them per search, in a transaction.

Results otherwise follow LangGraph's InMemoryStore: items without a vector come after the scored
ones (score ``None``) instead of disappearing, and listings without a query keep insertion order
(an overwritten item keeps its place) grouped by namespace, using the ``reverie_seq`` column.

The per-search logic is written once as a generator of SQL steps; the sync and async stores only
execute the steps.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
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

    exact_below: int = 2_000
    """Namespaces holding at most this many items are searched exactly."""
    iterative_scan: bool = True
    """Use pgvector's iterative HNSW scan for larger namespaces (needs pgvector 0.8 or later)."""
    max_scan_tuples: int = 1_000_000
    """Upper bound on index entries one iterative scan may visit before giving up."""
    ef_search: int = 40
    """HNSW candidate list size (pgvector's default 40): higher finds more of the true nearest
    neighbours, more slowly. Raised automatically to cover ``limit + offset``."""


def score_expression(store: Any) -> str:
    """The distance expression LangGraph orders its vector queries by, as it appears in the SQL."""
    operator, _ = get_distance_operator(store)
    vector_type = store.index_config.get("ann_index_config", {}).get("vector_type", "vector")
    return str(operator % ("%s", vector_type))


class NamespaceSizes:
    """Remembers for a while whether a namespace is small enough for exact search.

    Saves one round trip per search. A stale answer is harmless: a namespace that grew past the
    limit is still searched exactly (correct, a little slower) until the entry expires.
    """

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._small: dict[tuple[str, ...], tuple[bool, float]] = {}

    def get(self, namespace: tuple[str, ...]) -> bool | None:
        entry = self._small.get(namespace)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, namespace: tuple[str, ...], small: bool) -> None:
        if len(self._small) >= self.max_entries:
            self._small.clear()  # rare; cheaper than tracking recency
        self._small[namespace] = (small, time.monotonic() + self.ttl_s)


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


def session_settings(tuning: SearchTuning) -> str:
    """pgvector settings applied once to every pooled connection, so that an approximate
    search costs no extra statement."""
    return (
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', false),"
        f" set_config('hnsw.max_scan_tuples', '{int(tuning.max_scan_tuples)}', false),"
        f" set_config('hnsw.ef_search', '{min(1000, max(1, int(tuning.ef_search)))}', false)"
    )


def ann_settings(tuning: SearchTuning, op: SearchOp) -> tuple[str, list[Any]]:
    """Transaction-local pgvector settings for one approximate search."""
    ef_search = min(1000, max(tuning.ef_search, 2 * (op.limit + op.offset) + 1))
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
    return [
        _row_to_search_item(_decode_ns_bytes(row["prefix"]), row, loader=loader) for row in rows
    ]


SEQ_COLUMN = "reverie_seq"
LISTING_ORDER = (
    f"ORDER BY min(store.{SEQ_COLUMN}) OVER (PARTITION BY store.prefix), store.{SEQ_COLUMN}"
)
_LANGGRAPH_LISTING_ORDER = "ORDER BY store.updated_at DESC"
_UNINDEXED = (
    "AND NOT EXISTS (SELECT 1 FROM store_vectors nv "
    "WHERE nv.prefix = store.prefix AND nv.key = store.key) "
)


def listing_variant(query: str, *, unindexed_only: bool = False) -> str:
    """A no-query listing in insertion order; optionally only items that have no vector."""
    if _LANGGRAPH_LISTING_ORDER not in query:
        return query
    order = (_UNINDEXED if unindexed_only else "") + LISTING_ORDER
    return query.replace(_LANGGRAPH_LISTING_ORDER, order, 1)


@dataclass(frozen=True)
class Step:
    """One statement to run; ``ann`` runs it in a transaction with the iterative-scan settings."""

    sql: str
    params: Sequence[Any]
    ann_op: SearchOp | None = None


# A plan yields steps, receives each step's rows, and returns the rows of the search result.
Plan = Generator[Step, list[Any], list[Any]]


def widened(op: SearchOp) -> SearchOp:
    """The same search from the first hit, so unscored items can be appended after scored ones."""
    return op._replace(limit=op.offset + op.limit, offset=0)


def listing_plan(query: str, params: Sequence[Any]) -> Plan:
    rows = yield Step(listing_variant(query), params)
    return rows


def vector_plan(
    score: str,
    op: SearchOp,
    vector_query: tuple[str, Sequence[Any]],
    unindexed_query: tuple[str, Sequence[Any]],
    tuning: SearchTuning,
    sizes: NamespaceSizes,
) -> Plan:
    """Search ``op`` (already widened by the caller to start at 0) and page the result."""
    wanted = op.offset + op.limit
    sql, params = vector_query
    scored: list[Any] | None = None
    small = sizes.get(op.namespace_prefix) if op.namespace_prefix else False
    if small is None:
        counting = namespace_count_query(op, tuning.exact_below)
        if counting is not None:
            counted = yield Step(*counting)
            small = bool(counted) and counted[0]["n"] <= tuning.exact_below
            sizes.put(op.namespace_prefix, small)
    if small:
        exact = exact_variant(sql, score)
        if exact is not None:
            scored = yield Step(exact, params)
    if scored is None:
        scored = yield Step(sql, params, ann_op=op if tuning.iterative_scan else None)
    rows = list(scored)
    if len(rows) < wanted:
        more_sql, more_params = unindexed_query
        rows += yield Step(listing_variant(more_sql, unindexed_only=True), more_params)
    return rows[op.offset : wanted]
