"""A small namespace inside a large HNSW-indexed table still gets its true nearest memories.

200,000 memories of 100 other users sit right next to the query in vector space; the searched
user has 20 memories further away. pgvector's HNSW index filters after the scan, so a plain
LangGraph ``PostgresStore`` sees only the 40 nearest rows of the whole table (``ef_search``) and
finds none of them; Reverie's store searches small namespaces exactly and larger ones with
iterative index scans.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import psycopg
import pytest
from langgraph.store.postgres import PostgresStore
from langgraph.store.postgres.base import ANNIndexConfig, HNSWConfig, PostgresIndexConfig

from reverie.stores.postgres import (
    ReveriePostgresStore,
    open_async_postgres_store,
    open_postgres_store,
)
from reverie.testing import HashingEmbeddings
from tests.postgres.support import fresh_database

DIMS = 16
OTHERS = 200_000
USERS = 100
QUERY = "alice hiking mountains"
ALICE = ("memories", "alice")
TEXTS = [
    f"alice {word} {i}"
    for i, word in enumerate(
        [
            "hiking",
            "mountains",
            "dog",
            "lake",
            "piano",
            "coffee",
            "tea",
            "books",
            "rain",
            "bike",
            "garden",
            "chess",
            "beach",
            "snow",
            "movies",
            "jazz",
            "soup",
            "trains",
            "maps",
            "kites",
        ]
    )
]

# Building the 200,000-row HNSW index takes 15-35 s on two busy cores.
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def index_config() -> PostgresIndexConfig:
    hnsw: HNSWConfig = {"kind": "hnsw", "m": 8, "ef_construction": 32}
    # LangGraph declares the field as the base ANNIndexConfig, whose `kind` HNSWConfig narrows.
    ann = cast(ANNIndexConfig, hnsw)
    return {"dims": DIMS, "embed": HashingEmbeddings(DIMS), "ann_index_config": ann}


def true_scores(url: str, namespace: tuple[str, ...]) -> list[float]:
    """Every similarity in the namespace, best first, by brute force straight from the table."""
    query = HashingEmbeddings(DIMS).embed_query(QUERY)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT 1 - (embedding <=> %s::float4[]::vector) FROM store_vectors WHERE prefix = %s",
            (query, ".".join(namespace)),
        ).fetchall()
    return sorted((float(r[0]) for r in rows), reverse=True)


def rounded(scores: Sequence[float | None]) -> list[float]:
    return [round(s or 0.0, 5) for s in scores]


def bulk_load(url: str) -> None:
    """200,000 memories of other users, each a small perturbation of the query's vector."""
    query = HashingEmbeddings(DIMS).embed_query(QUERY)
    with psycopg.connect(url, autocommit=True) as conn:
        # Statistics stay as a fresh bulk load leaves them, so the planner trusts the index.
        conn.execute("ALTER TABLE store SET (autovacuum_enabled = false)")
        conn.execute("ALTER TABLE store_vectors SET (autovacuum_enabled = false)")
        conn.execute("DROP INDEX store_vectors_embedding_idx")
        conn.execute(
            """INSERT INTO store (prefix, key, value)
               SELECT 'memories.user' || (g %% %s), 'm' || g,
                      jsonb_build_object('kind', 'Memory',
                                         'content', jsonb_build_object('content', 'note ' || g))
               FROM generate_series(1, %s) AS g""",
            (USERS, OTHERS),
        )
        conn.execute(
            """INSERT INTO store_vectors (prefix, key, field_name, embedding)
               SELECT 'memories.user' || (g %% %s), 'm' || g, '$',
                      (SELECT array_agg(q + (random() - 0.5) * 0.2 ORDER BY d)
                       FROM unnest(%s::float4[]) WITH ORDINALITY AS t(q, d)
                       WHERE g > 0)::vector
               FROM generate_series(1, %s) AS g""",
            (USERS, query, OTHERS),
        )
        conn.execute(
            "CREATE INDEX store_vectors_embedding_idx ON store_vectors "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)"
        )


@pytest.fixture(scope="module")
def big_url() -> Iterator[str]:
    with fresh_database() as url:
        with open_postgres_store(url, index=index_config()) as store:
            bulk_load(url)
            for i, text in enumerate(TEXTS):
                store.put(ALICE, f"a{i}", {"kind": "Memory", "content": {"content": text}})
        yield url


@pytest.fixture
def store(big_url: str) -> Iterator[ReveriePostgresStore]:
    with open_postgres_store(big_url, index=index_config()) as s:
        yield s


def test_small_namespace_gets_its_true_top_k(store: ReveriePostgresStore, big_url: str) -> None:
    truth = true_scores(big_url, ALICE)
    assert len(truth) == len(TEXTS)
    for k in (1, 5, 20):
        hits = store.search(ALICE, query=QUERY, limit=k)
        assert [tuple(h.namespace) for h in hits] == [ALICE] * k
        assert rounded([h.score for h in hits]) == rounded(truth[:k])
    page = store.search(ALICE, query=QUERY, limit=5, offset=5)
    assert rounded([h.score for h in page]) == rounded(truth[5:10])


def test_plain_langgraph_store_loses_the_namespace(big_url: str) -> None:
    """The failure the store above avoids: HNSW post-filtering returns too few rows."""
    with PostgresStore.from_conn_string(big_url, index=index_config()) as plain:
        hits = plain.search(ALICE, query=QUERY, limit=5)
    assert len(hits) < 5


def test_large_namespace_uses_iterative_index_scan(big_url: str) -> None:
    """Above the exact-search size the HNSW index is used, and still fills the page."""
    user = ("memories", "user7")
    with open_postgres_store(big_url, index=index_config(), exact_search_below=0) as approx:
        hits = approx.search(user, query=QUERY, limit=10)
    assert len(hits) == 10 and {tuple(h.namespace) for h in hits} == {user}
    scores = [h.score or 0.0 for h in hits]
    assert scores == sorted(scores, reverse=True)
    truth = true_scores(big_url, user)
    assert len(truth) == OTHERS // USERS
    # Approximate, but from the namespace's best: the top hit beats 99% of the namespace.
    assert scores[0] >= truth[len(truth) // 100]
    with PostgresStore.from_conn_string(big_url, index=index_config()) as plain:
        assert len(plain.search(user, query=QUERY, limit=10)) < 10


async def test_async_store_gets_the_same_top_k(big_url: str) -> None:
    truth = true_scores(big_url, ALICE)
    async with await open_async_postgres_store(big_url, index=index_config()) as store:
        hits = await store.asearch(ALICE, query=QUERY, limit=5)
    assert [tuple(h.namespace) for h in hits] == [ALICE] * 5
    assert rounded([h.score for h in hits]) == rounded(truth[:5])
