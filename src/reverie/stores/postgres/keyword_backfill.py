"""Indexing for keyword search the items a database held before keyword search existed.

Run once, when a store opens a database whose keyword tables were just created (under the
server-wide setup lock, so concurrent openers do it once), a page of items at a time in one
transaction; recorded in ``reverie_migrations`` as done (a migration that drops items' keyword
rows, as ``reverie_terms_long_words`` does, removes that record to have them indexed again). Items are indexed with the store's own
``keyword_fields`` (or ``fields``), as a put without ``index=`` would be; Reverie's bookkeeping
namespaces are skipped, as its writers never index them.
"""

from __future__ import annotations

from langgraph.store.base import PutOp

from reverie.core.namespace import RESERVED_ROOT
from reverie.stores.postgres.indexing import IndexSettings
from reverie.stores.postgres.namespaces import from_text
from reverie.stores.postgres.steps import Plan, Sql, Transaction
from reverie.stores.postgres.writes import RowWrite, write_keywords

BACKFILL = "reverie_keyword_backfill"
PAGE = 500


def backfill_keywords(index: IndexSettings) -> Plan[int]:
    """Index every item without keyword terms; returns how many were indexed."""
    yield from Transaction()
    done = yield from Sql("SELECT 1 AS done FROM reverie_migrations WHERE name = %s", [BACKFILL])
    if done:
        return 0
    indexed, after = 0, ("", "")
    while True:
        page = yield from Sql(
            "SELECT s.prefix, s.key, s.value FROM store AS s "
            "WHERE (s.prefix, s.key) > (%s, %s) AND split_part(s.prefix, '.', 1) <> %s "
            "AND NOT EXISTS (SELECT 1 FROM reverie_keyword_docs AS d "
            "WHERE d.prefix = s.prefix AND d.key = s.key) "
            "ORDER BY s.prefix, s.key LIMIT %s",
            [*after, RESERVED_ROOT, PAGE],
        )
        if not page:
            break
        rows = [
            RowWrite(
                prefix=r["prefix"],
                key=r["key"],
                value_json=None,
                keyword_text=index.keyword_text(
                    PutOp(from_text(r["prefix"]), r["key"], r["value"])
                ),
            )
            for r in page
        ]
        yield from write_keywords(rows)
        indexed += sum(r.keyword_text is not None for r in rows)
        after = (page[-1]["prefix"], page[-1]["key"])
    yield from Sql("INSERT INTO reverie_migrations (name) VALUES (%s)", [BACKFILL])
    return indexed
