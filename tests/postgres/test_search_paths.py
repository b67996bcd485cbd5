"""Every way a vector search is planned gives the same answer on a small table: the exact
scan, the vector index with session settings, and the vector index with settings applied per
search (a store on a pool Reverie did not configure)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langgraph.store.base import Result, SearchItem
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from reverie.core.ports import NamespaceSearch
from reverie.stores.postgres import ReveriePostgresStore, SearchTuning, open_postgres_store
from reverie.testing import hashing_index
from tests.helpers import all_floats
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

NS = ("notes", "u1")
TOPICS = ["rain", "snow", "piano", "violin", "coffee", "tea", "hiking", "sailing", "chess", "go"]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with fresh_database() as url, open_postgres_store(url, index=hashing_index()) as store:
        for i in range(30):
            store.put(NS, f"n{i:02}", {"text": f"{TOPICS[i % 10]} note {i}", "i": i})
        for i in range(3):
            store.put(NS, f"plain{i}", {"text": f"rain unindexed {i}", "i": 100 + i}, index=False)
        store.put((*NS, "child"), "c", {"text": "rain in a child namespace", "i": 200})
        yield url


def ranking(items: list[SearchItem]) -> list[tuple[str, float | None]]:
    return [(i.key, None if i.score is None else round(i.score, 5)) for i in items]


def found(result: Result) -> list[SearchItem]:
    """The items of a batch's search result."""
    assert isinstance(result, list)
    items = []
    for item in result:
        assert isinstance(item, SearchItem)
        items.append(item)
    return items


def searches(store: ReveriePostgresStore) -> dict[str, list[tuple[str, float | None]]]:
    (own, below) = store.batch(
        [
            NamespaceSearch(NS, query="rain note", limit=50),
            NamespaceSearch(NS, query="rain note", limit=50, descendants=True),
        ]
    )
    return {
        "all": ranking(store.search(NS, query="rain note", limit=50)),
        "page": ranking(store.search(NS, query="rain note", limit=5, offset=28)),
        "filtered": ranking(store.search(NS, query="piano", filter={"i": {"$lt": 10}}, limit=4)),
        "own": ranking(found(own)),
        "below": ranking(found(below)),
    }


def test_exact_and_index_searches_agree(url: str) -> None:
    with open_postgres_store(url, index=hashing_index()) as exact:
        expected = searches(exact)
    with open_postgres_store(url, index=hashing_index(), exact_search_below=0) as approximate:
        assert searches(approximate) == expected
    pool: ConnectionPool = ConnectionPool(
        url,
        min_size=1,
        max_size=2,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    pool.open()
    with ReveriePostgresStore(
        pool, index=hashing_index(), tuning=SearchTuning(exact_below=0), owns_pool=True
    ) as foreign:
        foreign.setup()
        assert searches(foreign) == expected

    keys = [key for key, _ in expected["all"]]
    scores = [score for _, score in expected["all"]]
    assert keys[-3:] == ["plain0", "plain1", "plain2"] and scores[-3:] == [None] * 3
    ranked = scores[:-3]
    assert all_floats(ranked) and len(keys) == 34  # with the child's
    assert ranked == sorted(ranked, reverse=True)
    assert expected["page"] == expected["all"][28:33]
    assert sorted(expected["own"]) == sorted(r for r in expected["all"] if r[0] != "c")
    assert [k for k, _ in expected["filtered"]][0] == "n02"
    assert {k for k, _ in expected["filtered"]} <= {f"n{i:02}" for i in range(10)}
    assert "c" in {k for k, _ in expected["all"]} and "c" not in {k for k, _ in expected["own"]}
    assert sorted(expected["below"]) == sorted(expected["all"])
