"""Reading live items: by key, by id, and scanning namespaces in store order.

Expired items are never returned (``LIVE``), whether or not a sweep has removed them yet.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from typing import Any

from reverie.core.ports import TallyRow
from reverie.core.requests import never_written
from reverie.stores.embedded.database import StoreFile
from reverie.stores.embedded.filters import matches_filter, sql_prefilter
from reverie.stores.embedded.namespaces import Namespaces
from reverie.stores.embedded.rows import ITEM_COLUMNS, LIVE, Row, chunks, marks, ns_path, timestamp

_FROM = f"SELECT {ITEM_COLUMNS} FROM items i JOIN namespaces n ON n.id = i.ns_id"
_FROM_WITH_NS = f"SELECT {ITEM_COLUMNS}, i.ns_id FROM items i JOIN namespaces n ON n.id = i.ns_id"
# SQLite reads each value's kind itself: counting never decodes a value in Python.
_TALLY = (
    "SELECT n.path, CASE WHEN json_type(i.value, '$.kind') = 'text' "
    "THEN json_extract(i.value, '$.kind') END AS kind, count(*), max(i.updated_at) "
    "FROM items i JOIN namespaces n ON n.id = i.ns_id WHERE n.path IN ({paths}) AND {live} "
    "GROUP BY n.path, kind ORDER BY min(i.id)"
)


class ItemReader:
    """Item reads on ``db``; callers hold its session or a transaction."""

    def __init__(self, db: StoreFile, namespaces: Namespaces) -> None:
        self.db = db
        self.namespaces = namespaces

    def get(self, namespace: tuple[str, ...], key: str, now: float) -> Row | None:
        # One statement: the namespace by its (unique) path, the item by its (unique) key.
        row = self.db.conn.execute(
            f"{_FROM} WHERE n.path = ? AND i.key = ? AND {LIVE}", (ns_path(namespace), key, now)
        ).fetchone()
        return None if row is None else Row.from_sql(row)

    def get_many(
        self, wanted: Sequence[tuple[tuple[str, ...], str]], now: float
    ) -> dict[tuple[tuple[str, ...], str], Row]:
        """Live items by (namespace, key): one statement per namespace and chunk of keys."""
        by_namespace: dict[tuple[str, ...], list[str]] = {}
        for namespace, key in wanted:
            by_namespace.setdefault(namespace, []).append(key)
        found: dict[tuple[tuple[str, ...], str], Row] = {}
        for namespace, keys in by_namespace.items():
            for chunk in chunks(sorted(set(keys))):
                for row in self.db.conn.execute(
                    f"{_FROM} WHERE n.path = ? AND i.key IN ({marks(len(chunk))}) AND {LIVE}",
                    (ns_path(namespace), *chunk, now),
                ):
                    item = Row.from_sql(row)
                    found[(namespace, item.key)] = item
        return found

    def raw_rows(
        self, ids: Sequence[int], now: float, ns_ids: set[int]
    ) -> dict[int, tuple[Any, ...]]:
        """Live rows by id, as SQLite gives them (ids of deleted or expired items are left out):
        the caller decodes (``Row.from_sql``) only those it keeps. Only rows of ``ns_ids``: an
        id from a search's cache never brings back an item of a namespace not searched."""
        found: dict[int, tuple[Any, ...]] = {}
        for chunk in chunks(list(ids)):
            for row in self.db.conn.execute(
                f"{_FROM_WITH_NS} WHERE i.id IN ({marks(len(chunk))}) AND {LIVE}", (*chunk, now)
            ):
                if row[-1] in ns_ids:
                    found[row[0]] = row
        return found

    def scan(
        self,
        ns_ids: list[int],
        now: float,
        filter: dict[str, Any] | None,
        exclude: set[int] | None = None,
        skip: int = 0,
    ) -> Generator[Row, None, int]:
        """Live items matching ``filter``, in store order (namespace creation, then insertion),
        after the first ``skip`` of them; returns how many of ``skip`` are still to pass over.

        Skipped rows are never turned into items (and, without a filter, not even read), so a
        deep page costs what the page itself holds, not everything before it.
        """
        where, params = sql_prefilter(filter, "i.value")
        where = f" AND {where}" if where else ""
        plain = filter is None and exclude is None
        for ns_id in ns_ids:
            if plain and skip:
                (count,) = self.db.conn.execute(
                    f"SELECT count(*) FROM items i WHERE i.ns_id = ? AND {LIVE}", (ns_id, now)
                ).fetchone()
                if count <= skip:
                    skip -= count
                    continue
            cursor = self.db.conn.execute(
                f"{_FROM} WHERE i.ns_id = ? AND {LIVE}{where} ORDER BY i.id LIMIT -1 OFFSET ?",
                (ns_id, now, *params, skip if plain else 0),
            )
            if plain:
                skip = 0
            for row in cursor:
                if exclude is not None and row[0] in exclude:
                    continue
                if skip:
                    if matches_filter(json.loads(row[3]), filter):
                        skip -= 1
                    continue
                found = Row.from_sql(row)
                if matches_filter(found.value, filter):
                    yield found
        return skip

    def tally(self, namespaces: Sequence[tuple[str, ...]], now: float) -> list[TallyRow]:
        """(namespace, kind, live items, newest update) per namespace and kind, in store order."""
        found: list[TallyRow] = []
        # What no write could have made holds nothing (and SQLite cannot encode a lone
        # surrogate): it is left out of the query, as a namespace without items is.
        paths = [ns_path(ns) for ns in namespaces if not never_written(ns, None)]
        for chunk in chunks(paths):
            query = _TALLY.format(paths=marks(len(chunk)), live=LIVE)
            for path, kind, count, newest in self.db.conn.execute(query, (*chunk, now)):
                found.append((tuple(path.split(".")), kind, count, timestamp(newest)))
        return found
