"""Reading items: the columns every read selects, rows to LangGraph items, and TTL refreshes.

Every read of an item goes through these helpers, so a commit checks its expectations against
exactly the ``Item`` a ``get`` returns (same value, same timestamps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langgraph.store.base import Item, SearchItem

from reverie.stores.postgres.namespaces import ALIVE, as_text, from_text
from reverie.stores.postgres.steps import Plan, Row, Sql


def item_columns(table: str = "store") -> str:
    """The columns an item is built from (``ttl_minutes`` tells whether a refresh is due)."""
    return ", ".join(
        f"{table}.{column}"
        for column in ("prefix", "key", "value", "created_at", "updated_at", "ttl_minutes")
    )


GET_ITEMS = (
    f"SELECT {item_columns()} FROM store "
    "JOIN unnest(%s::text[], %s::text[]) AS wanted(prefix, key) "
    "ON store.prefix = wanted.prefix AND store.key = wanted.key "
    f"WHERE {ALIVE}"
)

# Restarts the TTL of items just read. Rows another transaction is writing are skipped instead
# of waited for (that write sets a new expiry anyway), so a read never waits on a lock.
REFRESH_TTL = (
    "UPDATE store SET expires_at = statement_timestamp() + store.ttl_minutes * interval '1 minute' "
    "FROM (SELECT s.prefix, s.key FROM store AS s "
    "JOIN unnest(%s::text[], %s::text[]) AS t(prefix, key) ON s.prefix = t.prefix AND s.key = t.key "
    "WHERE s.ttl_minutes IS NOT NULL FOR UPDATE OF s SKIP LOCKED) AS due "
    "WHERE store.prefix = due.prefix AND store.key = due.key"
)


def to_item(row: Row) -> Item:
    return Item(
        value=row["value"],
        key=row["key"],
        namespace=from_text(row["prefix"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def to_search_item(row: Row) -> SearchItem:
    score = row.get("score")
    return SearchItem(
        namespace=from_text(row["prefix"]),
        key=row["key"],
        value=row["value"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        score=None if score is None else float(score),
    )


def get_items(wanted: Sequence[tuple[str, str]]) -> Plan[dict[tuple[str, str], Row]]:
    """The live rows of ``wanted`` ``(prefix, key)`` pairs, by pair; absent ones are missing."""
    if not wanted:
        return {}
    rows = yield from Sql(GET_ITEMS, params_of(wanted))
    return {(row["prefix"], row["key"]): row for row in rows}


def refresh_ttl(rows: Iterable[Row]) -> Plan[None]:
    """Restart the TTL of ``rows`` that have one (no statement when none does)."""
    due = [(row["prefix"], row["key"]) for row in rows if row.get("ttl_minutes") is not None]
    if due:
        yield from Sql(REFRESH_TTL, params_of(due))


def item_key(namespace: Sequence[str], key: str) -> tuple[str, str]:
    """The ``(prefix, key)`` pair rows are looked up by."""
    return as_text(namespace), key


def params_of(pairs: Sequence[tuple[str, str]]) -> list[Any]:
    """``(prefix, key)`` pairs as the two arrays the statements above unnest."""
    return [[p for p, _ in pairs], [k for _, k in pairs]]
