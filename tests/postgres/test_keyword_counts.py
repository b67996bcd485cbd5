"""Each namespace's BM25 document count and total length, kept by the database as documents come
and go, equal a recount of the documents after every kind of write: puts, overwrites, deletes,
TTL sweeps, writes and deletes by another client (LangGraph's store, plain SQL, a truncation)
and commits racing a sweeper. A database written before the counts existed gets them on open."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from langgraph.store.base import PutOp

from reverie.stores.postgres import open_postgres_store
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

ALICE = ("memories", "alice")
BOB = ("memories", "bob")
RECOUNT = (
    "SELECT prefix, count(*)::bigint, sum(length)::float8 FROM reverie_keyword_docs "
    "GROUP BY prefix ORDER BY prefix"
)
KEPT = (
    "SELECT prefix, sum(docs)::bigint, sum(length)::float8 FROM reverie_keyword_counts "
    "GROUP BY prefix HAVING sum(docs) <> 0 ORDER BY prefix"
)


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as found:
        yield found


def counts(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    """(counts kept, counts recounted from the documents, rows in the counts table)."""
    with psycopg.connect(url) as conn:
        kept = conn.execute(KEPT).fetchall()
        recounted = conn.execute(RECOUNT).fetchall()
        row = conn.execute("SELECT count(*) FROM reverie_keyword_counts").fetchone()
    assert row is not None
    return kept, recounted, int(row[0])


def assert_counts_match(url: str) -> None:
    kept, recounted, _ = counts(url)
    assert kept == recounted


def test_counts_follow_puts_overwrites_deletes_and_sweeps(url: str) -> None:
    with open_postgres_store(url, index=hashing_index()) as store:
        store.put(ALICE, "a", {"text": "green tea every morning"})
        store.put(ALICE, "b", {"text": "a border collie named Pixel"})
        store.put(BOB, "c", {"text": "cello on sundays"})
        assert_counts_match(url)
        assert [row[:2] for row in counts(url)[0]] == [(".".join(ALICE), 2), (".".join(BOB), 1)]
        store.put(ALICE, "a", {"text": "tea"})  # shorter: the total length falls
        assert_counts_match(url)
        store.delete(ALICE, "b")
        assert_counts_match(url)
        store.put(BOB, "short", {"text": "gone in a second"}, ttl=1 / 60)
        assert_counts_match(url)
        time.sleep(1.2)
        assert store.sweep_ttl() == 1
        assert_counts_match(url)
        # Written and deleted by another client (an earlier release, LangGraph's store, which
        # deletes from ``store`` so the documents go by cascade), a length changed in place.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO store (prefix, key, value) VALUES (%s, 'old', '{}')", [".".join(BOB)]
            )
            conn.execute(
                "INSERT INTO reverie_keyword_docs (prefix, key, length) VALUES (%s, 'old', 4)",
                [".".join(BOB)],
            )
            assert_counts_match(url)
            conn.execute("DELETE FROM store WHERE prefix = %s AND key = 'c'", [".".join(BOB)])
            conn.execute("UPDATE reverie_keyword_docs SET length = length + 5")
        assert_counts_match(url)
        assert [h.key for h in store.search(ALICE, query="tea")] == ["a"]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE store CASCADE")
        assert counts(url) == ([], [], 0)
        store.put(BOB, "d", {"text": "after the wipe"})
        assert_counts_match(url)


def test_a_namespace_written_often_keeps_few_count_rows(url: str) -> None:
    """Writers fold a namespace's signed rows into one, so a search sums a handful of rows."""
    with open_postgres_store(url, index=hashing_index()) as store:
        for n in range(40):
            store.put(ALICE, f"k{n}", {"text": f"note number {n} about tea"})
            store.commit([], [PutOp(BOB, f"k{n}", {"text": "a short one"})])
        kept, recounted, rows = counts(url)
    assert kept == recounted and kept[0][1] == 40
    assert rows == 2


def test_commits_racing_a_sweeper_keep_the_counts_exact(url: str) -> None:
    """The sweeper deletes expired items of many namespaces without their locks while commits
    write and fold the same namespaces: neither waits for the other and no change is lost."""
    with open_postgres_store(url, index=hashing_index()) as store:
        stop = threading.Event()
        errors: list[BaseException] = []

        def sweep() -> None:
            try:
                while not stop.is_set():
                    store.sweep_ttl()
            except BaseException as exc:  # reported below
                errors.append(exc)

        sweeper = threading.Thread(target=sweep)
        sweeper.start()
        try:
            for n in range(60):
                namespace = ALICE if n % 2 else BOB
                store.commit(
                    [],
                    [
                        PutOp(namespace, f"brief{n}", {"text": f"expires {n}"}, ttl=1 / 600),
                        PutOp(namespace, f"kept{n}", {"text": f"stays {n}"}),
                    ],
                )
        finally:
            stop.set()
            sweeper.join()
        time.sleep(0.2)
        store.sweep_ttl()
    assert not errors
    kept, recounted, _ = counts(url)
    assert kept == recounted
    assert [c[1] for c in kept] == [30, 30]


def test_a_database_from_before_the_counts_gets_them_on_open(url: str) -> None:
    index = hashing_index(fields=["text"])
    with open_postgres_store(url, index=index) as store:
        store.put(ALICE, "a", {"text": "green tea every morning"})
        store.put(ALICE, "b", {"text": "tea with lemon"})
        store.put(BOB, "c", {"text": "cello on sundays"})
        before = [(h.key, h.score) for h in store.search(ALICE, query="tea morning")]
    upgrades = [
        "reverie_keyword_counts",
        "reverie_keyword_counts_prefix",
        "reverie_keyword_counts_function",
        "reverie_keyword_counts_triggers",
        "reverie_keyword_counts_fill",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for event in ("insert", "delete", "update", "truncate"):
            conn.execute(f"DROP TRIGGER reverie_keyword_counts_{event} ON reverie_keyword_docs")
        conn.execute("DROP FUNCTION reverie_keyword_counted()")
        conn.execute("DROP TABLE reverie_keyword_counts")
        conn.execute("DELETE FROM reverie_migrations WHERE name = ANY(%s)", [upgrades])
    with open_postgres_store(url, index=index) as store:
        assert_counts_match(url)
        assert [(h.key, h.score) for h in store.search(ALICE, query="tea morning")] == before
    assert len(counts(url)[0]) == 2
