"""A database written before keyword search existed: its items are indexed once, on open."""

from __future__ import annotations

import psycopg
import pytest

from reverie.stores.postgres import open_postgres_store
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres
NS = ("memories", "u1")


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_items_stored_before_keyword_search_are_indexed_once() -> None:
    with fresh_database() as url:
        with open_postgres_store(url) as plain:  # no index: no keyword tables yet
            plain.put(NS, "a", {"text": "the quokka smiled at the camera"})
            plain.put(NS, "b", {"text": "tea at noon"})
            plain.put(("__reverie__", "history", *NS), "h", {"text": "bookkeeping"})
        with open_postgres_store(url, index=hashing_index(fields=["text"])) as store:
            assert count(url, "SELECT count(*) FROM reverie_keyword_docs") == 2
            hits = store.search(NS, query="quokka")
            assert hits[0].key == "a"
        terms = count(url, "SELECT count(*) FROM reverie_terms")
        with open_postgres_store(url, index=hashing_index(fields=["text"])):
            assert count(url, "SELECT count(*) FROM reverie_terms") == terms
        done = "SELECT count(*) FROM reverie_migrations WHERE name = 'reverie_keyword_backfill'"
        assert count(url, done) == 1
