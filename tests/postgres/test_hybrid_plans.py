"""How PostgreSQL hybrid search reads its pool: through indexes, not by reading the namespace.

At 10,000 LoCoMo turns in one namespace the neighbour lookup read every item (~13 ms) and BM25
read every term of the namespace (~20-60 ms). These tests pin the shapes that avoid it: the
neighbour statement can be served by the episode index (its expressions match the index's), and
BM25's shortcut for unfiltered searches gives the same pool as reading every match, also when
the best matches have expired.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from reverie.stores.postgres import ReveriePostgresStore, open_postgres_store
from reverie.stores.postgres.hybrid import keyword_candidates, pool_context
from reverie.stores.postgres.indexing import IndexSettings
from reverie.stores.postgres.namespaces import as_text
from reverie.stores.postgres.search import SearchRequest, approximate
from reverie.stores.postgres.steps import Plan, Sql
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

NS = ("chat", "ann")


@pytest.fixture
def opened() -> Iterator[tuple[str, ReveriePostgresStore]]:
    with fresh_database() as url, open_postgres_store(url, index=hashing_index()) as store:
        yield url, store


def settings_of(store: ReveriePostgresStore) -> IndexSettings:
    index = store.settings.index
    assert index is not None
    return index


def perform(conn: psycopg.Connection[Any], plan: Plan[Any], explain_at: int = -1) -> Any:
    """Run ``plan``'s statements on ``conn``; with ``explain_at``, return the plan of that
    statement (0-based) instead of running it and the rest."""
    step = next(plan)
    at = 0
    try:
        while True:
            assert isinstance(step, Sql)
            if at == explain_at:
                rows = conn.execute("EXPLAIN " + step.query, step.params).fetchall()
                return "\n".join(r["QUERY PLAN"] for r in rows)
            cursor = conn.execute(step.query, step.params)
            step = plan.send(cursor.fetchall() if cursor.description is not None else [])
            at += 1
    except StopIteration as done:
        return done.value


def turn(episode: str, position: int, text: str) -> dict[str, Any]:
    return {"content": {"conversation": episode, "turn": position, "speaker": "Ann", "text": text}}


def test_neighbours_are_looked_up_through_the_episode_index(
    opened: tuple[str, ReveriePostgresStore],
) -> None:
    url, store = opened
    for episode in ("e1", "e2"):
        for n in range(6):
            store.put(NS, f"{episode}-{n}", turn(episode, n, f"{episode} turn {n}"))
    index = settings_of(store)
    prefix = as_text(NS)
    keys = [(prefix, "e1-2"), (prefix, "e2-5")]
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        found, near = perform(conn, pool_context(keys, index, None))
        assert sorted(r["key"] for r in found) == ["e1-2", "e2-5"]
        assert sorted(r["key"] for r in near) == ["e1-1", "e1-3", "e2-4"]
        # A table this small is read whole by choice; forbidding that shows the index can serve
        # the statement, which it cannot once the statement's expressions differ from it.
        conn.execute("SET enable_seqscan = off")
        plan = perform(conn, pool_context(keys, index, None), explain_at=0)
    assert index.episode_index_ddl()[0] in plan


def test_keyword_pool_shortcut_matches_reading_every_match(
    opened: tuple[str, ReveriePostgresStore],
) -> None:
    url, store = opened
    # Scores fall with the number of other words; equal texts tie and keep insertion order.
    for n in range(12):
        store.put(NS, f"k{n:02}", {"text": "rain " + "word " * (n // 2)})
    store.put(NS, "dry", {"text": "sunny weather"})
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        everything = perform(conn, keyword_candidates(NS, False, "rain", None, 50))
        assert list(everything) == [(as_text(NS), f"k{n:02}") for n in range(12)]
        best_five = perform(conn, keyword_candidates(NS, False, "rain", None, 5))
        assert best_five == dict(list(everything.items())[:5])
        # The two best matches expire: the pool is the next five, not three.
        conn.execute(
            "UPDATE store SET expires_at = now() - interval '1 minute' WHERE key = ANY(%s)",
            [["k00", "k01"]],
        )
        after = perform(conn, keyword_candidates(NS, False, "rain", None, 5))
        assert list(after) == [(as_text(NS), f"k{n:02}") for n in range(2, 7)]
        filtered = perform(conn, keyword_candidates(NS, False, "rain", {"text": {"$ne": "x"}}, 5))
        assert filtered == after


def test_hybrid_search_ranks_the_keyword_match_first(
    opened: tuple[str, ReveriePostgresStore],
) -> None:
    """The hybrid pool through the new statements still ranks a keyword match and brings its
    neighbours' context (an end-to-end check of the same statements)."""
    _, store = opened
    for n in range(8):
        store.put(NS, f"t{n}", turn("e1", n, "zebra stripes" if n == 4 else f"filler {n}"))
    hits = store.search(NS, query="zebra stripes", limit=3)
    assert hits[0].key == "t4"


def test_the_query_vector_is_read_once_and_still_orders_by_the_vector_index(
    opened: tuple[str, ReveriePostgresStore],
) -> None:
    """The query vector is a one-off subquery (parsed once, not once per row) that the HNSW
    index can still order by."""
    url, store = opened
    for n in range(20):
        store.put(NS, f"v{n}", {"text": f"note {n}"})
    index = settings_of(store)
    vector = index.embeddings.embed_query("note 3")
    request = SearchRequest(NS, descendants=False, query="note 3", limit=5)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        # As above: a table this small is best sorted whole, unless that is forbidden.
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_sort = off")
        plan = perform(conn, approximate(request, vector, index, keys_only=True), explain_at=0)
        conn.execute("RESET enable_sort")
        rows = perform(conn, approximate(request, vector, index, keys_only=True))
    assert "store_vectors_embedding_idx" in plan and "InitPlan" in plan
    assert rows[0]["key"] == "v3" and set(rows[0]) == {"prefix", "key", "score"}


def test_a_search_below_a_namespace_reads_only_its_documents(
    opened: tuple[str, ReveriePostgresStore],
) -> None:
    """LangGraph's prefix search (``descendants``) finds the namespace's document counts through
    the pattern index, not by reading every user's."""
    url, store = opened
    store.put(NS, "own", {"text": "rain today"})
    store.put((*NS, "notes"), "below", {"text": "rain tomorrow"})
    store.put(("chat", "bob"), "other", {"text": "rain for bob"})
    store.put(("chat", "ann2"), "lookalike", {"text": "rain for a similar name"})
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        found = perform(conn, keyword_candidates(NS, True, "rain", None, 10))
        assert sorted(key for _, key in found) == ["below", "own"]
        conn.execute("SET enable_seqscan = off")
        plan = perform(conn, keyword_candidates(NS, True, "rain", None, 10), explain_at=0)
    assert "reverie_keyword_counts_prefix" in plan and "reverie_keyword_docs" not in plan


def test_the_stores_connections_run_without_jit(opened: tuple[str, ReveriePostgresStore]) -> None:
    """Compiling a statement with JIT took longer than running it (13.6 ms for the neighbour
    lookup before its index); the store's pooled connections turn it off."""
    _, store = opened
    with store.pool.connection() as conn:
        row = conn.execute("SHOW jit").fetchone()
    assert row is not None and row["jit"] == "off"


def test_keyword_postings_are_read_from_the_index_alone(
    opened: tuple[str, ReveriePostgresStore],
) -> None:
    """BM25 reads each query term's postings, term counts included, from the postings' primary
    key without visiting the table (once vacuum has marked its pages all-visible)."""
    url, store = opened
    for n in range(30):
        store.put(NS, f"p{n}", {"text": f"rain {'and wind ' * (n % 3)}day {n}"})
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("VACUUM ANALYZE reverie_terms")
        found = perform(conn, keyword_candidates(NS, False, "rain wind", None, 10))
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        plan = perform(conn, keyword_candidates(NS, False, "rain wind", None, 10), explain_at=0)
    assert plan.count("Index Only Scan using reverie_terms_pkey") >= 2, plan
    # Items with both words first, "wind" twice (p2, p5, ...) before once (p1, p4, ...).
    assert [key for _, key in found][:4] == ["p2", "p5", "p8", "p11"]
    assert all(int(key[1:]) % 3 for _, key in list(found)[:10])
