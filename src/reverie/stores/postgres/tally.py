"""Counting the live items of namespaces per kind in one grouped query (``reverie stats``): the
server reads each value's kind, so no value travels or is decoded."""

from __future__ import annotations

from collections.abc import Sequence

from reverie.core.ports import NamespaceTally, TallyRow, tallies_of
from reverie.core.requests import never_written
from reverie.stores.postgres.namespaces import ALIVE, as_text, checked, from_text
from reverie.stores.postgres.steps import Plan, Sql

TALLY = (
    "SELECT store.prefix, CASE WHEN jsonb_typeof(store.value -> 'kind') = 'string' "
    "THEN store.value ->> 'kind' END AS kind, count(*) AS items, max(store.updated_at) AS newest "
    f"FROM store WHERE store.prefix = ANY(%s::text[]) AND {ALIVE} "
    "GROUP BY store.prefix, kind ORDER BY min(store.reverie_seq)"
)


def run_tally(namespaces: Sequence[tuple[str, ...]]) -> Plan[list[NamespaceTally]]:
    """See :meth:`reverie.core.ports.MemoryStorePort.tally`."""
    # What no write could have made holds nothing, as in the embedded store: left out of the
    # query (PostgreSQL refuses a NUL, psycopg cannot encode a lone surrogate), not refused.
    paths = [
        as_text(checked(tuple(namespace)))
        for namespace in namespaces
        if not never_written(namespace, None)
    ]
    if not paths:
        return []
    rows = yield from Sql(TALLY, [paths])
    found: list[TallyRow] = [
        (from_text(row["prefix"]), row["kind"], int(row["items"]), row["newest"]) for row in rows
    ]
    return tallies_of(namespaces, found)
