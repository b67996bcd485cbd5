"""Store conformance: every backend must behave like LangGraph's InMemoryStore (scores aside).

Each test runs the same calls against the store under test and a reference ``InMemoryStore`` and
compares what a user sees: keys, namespaces and values, in order where order is defined.
Searches with a query are compared on the best hit and on the set of items returned, since
hybrid ranking may order lower hits differently from pure vector ranking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, Item, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from reverie.testing import hashing_index
from tests.store_factories import FACTORIES

PETS = {
    "a": {"text": "my dog Rex loves long walks in the park", "kind": "pet", "age": 3},
    "b": {"text": "the cat sleeps on the warm windowsill", "kind": "pet", "age": 7},
    "c": {"text": "coffee with oat milk every morning", "kind": "habit", "age": 1},
    "d": {"text": "weekly piano lessons on thursday evening", "kind": "habit", "age": 12},
    "e": {"text": "parrot named Kiwi repeats every word", "kind": "pet", "age": 30},
}


def view(items: list[Any] | Item | None) -> Any:
    """What a user compares: (namespace, key, value), dropping timestamps and scores."""
    if items is None:
        return None
    if isinstance(items, Item):
        return (tuple(items.namespace), items.key, items.value)
    if isinstance(items, list):
        return [view(i) for i in items]
    return items


@pytest.fixture
def reference() -> InMemoryStore:
    return InMemoryStore(index=hashing_index())


def both(store: BaseStore, reference: BaseStore, call: Callable[[BaseStore], Any]) -> Any:
    got, expected = call(store), call(reference)
    assert view(got) == view(expected)
    return got


def fill(store: BaseStore, ns: tuple[str, ...] = ("pets", "u1")) -> None:
    for key, value in PETS.items():
        store.put(ns, key, value)


def test_put_get_overwrite_delete(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        fill(s)
    both(any_store, reference, lambda s: s.get(("pets", "u1"), "a"))
    both(any_store, reference, lambda s: s.get(("pets", "u1"), "missing"))
    both(any_store, reference, lambda s: s.get(("pets", "nobody"), "a"))
    for s in (any_store, reference):
        s.put(("pets", "u1"), "a", {"text": "my dog Rex is now old", "kind": "pet", "age": 13})
        s.delete(("pets", "u1"), "b")
        s.delete(("pets", "u1"), "never-existed")
    got = both(any_store, reference, lambda s: s.get(("pets", "u1"), "a"))
    assert got.value["age"] == 13
    assert any_store.get(("pets", "u1"), "b") is None
    both(any_store, reference, lambda s: s.search(("pets",), limit=100))


def test_values_round_trip_unchanged(any_store: BaseStore) -> None:
    value = {"n": 1, "f": 2.5, "b": True, "none": None, "list": [1, "x", {"y": [2]}], "u": "é✓"}
    any_store.put(("ns",), "k", value)
    item = any_store.get(("ns",), "k")
    assert item is not None and item.value == value
    assert item.created_at is not None and item.updated_at is not None


def test_listing_order_limit_offset(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        fill(s)
        fill(s, ("pets", "u2"))
        s.put(("pets", "u1"), "c", {"text": "overwritten keeps its place", "kind": "x", "age": 0})
        s.delete(("pets", "u1"), "a")
        s.put(("pets", "u1"), "a", {"text": "re-added goes last", "kind": "x", "age": 0})
    for limit, offset in [(10, 0), (2, 0), (2, 2), (3, 4), (100, 9), (5, 50)]:
        both(
            any_store,
            reference,
            lambda s, limit=limit, offset=offset: s.search(("pets",), limit=limit, offset=offset),
        )
    both(any_store, reference, lambda s: s.search(("pets", "u2"), limit=3, offset=1))


@pytest.mark.parametrize(
    "filter",
    [
        {"kind": "pet"},
        {"kind": {"$eq": "habit"}},
        {"kind": {"$ne": "pet"}},
        {"age": {"$gt": 3}},
        {"age": {"$gte": 3}},
        {"age": {"$lt": 7}},
        {"age": {"$lte": 7, "$gt": 1}},
        {"kind": "pet", "age": {"$gte": 7}},
        {"meta": {"owner": "ann"}},
        {"meta": {"owner": {"$ne": "ann"}}},
        {"tags": ["a", "b"]},
        {"missing": "x"},
        {"flag": True},
        {"flag": 1},
        {"flag": "1"},
        {"flag": {"$eq": 1.0}},
        {"flag": 0, "kind": "pet"},
    ],
)
def test_filters_match_in_memory_store(
    any_store: BaseStore, reference: BaseStore, filter: dict[str, Any]
) -> None:
    for s in (any_store, reference):
        fill(s)
        s.put(
            ("pets", "u1"),
            "f",
            {"text": "x", "meta": {"owner": "ann"}, "tags": ["a", "b"], "age": 2},
        )
        s.put(
            ("pets", "u1"),
            "g",
            {"text": "y", "meta": {"owner": "bob"}, "tags": ["b", "a"], "age": 40},
        )
        for key, flag in [("h", True), ("i", 1), ("j", "1"), ("k", 1.0), ("l", False)]:
            s.put(("pets", "u1"), key, {"text": "flagged", "flag": flag, "age": 5, "kind": "pet"})
    got = both(any_store, reference, lambda s: s.search(("pets",), filter=filter, limit=50))
    both(any_store, reference, lambda s: s.search(("pets",), filter=filter, limit=1, offset=1))
    if filter != {"missing": "x"}:
        assert got, "each filter above matches at least one item"


def test_query_search_best_hit_and_result_set(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        fill(s)
    for query, best in [("piano lessons", "d"), ("oat milk coffee", "c"), ("dog Rex", "a")]:
        got = any_store.search(("pets",), query=query, limit=10)
        expected = reference.search(("pets",), query=query, limit=10)
        assert got[0].key == expected[0].key == best
        assert {i.key for i in got} == {i.key for i in expected} == set(PETS)
        scores = [i.score for i in got]
        assert all(isinstance(x, float) for x in scores)
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_query_with_filter_limit_offset(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        fill(s)
    got = any_store.search(("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=10)
    expected = reference.search(("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=10)
    assert got[0].key == expected[0].key == "e"
    assert {i.key for i in got} == {i.key for i in expected} == {"a", "b", "e"}
    page = any_store.search(("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=2)
    rest = any_store.search(
        ("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=2, offset=2
    )
    assert [i.key for i in page + rest] == [i.key for i in got]


def test_namespace_prefix_is_label_wise(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        s.put(("a", "b"), "1", {"text": "in a.b"})
        s.put(("a", "b", "c"), "2", {"text": "in a.b.c"})
        s.put(("a", "bc"), "3", {"text": "in a.bc, not under a.b"})
        s.put(("x",), "4", {"text": "elsewhere"})
    both(any_store, reference, lambda s: s.search(("a", "b")))
    both(any_store, reference, lambda s: s.search(("a",)))
    both(any_store, reference, lambda s: s.search(()))
    got = any_store.search(("a", "b"), query="in a.b")
    assert {i.key for i in got} == {"1", "2"}


def test_list_namespaces(any_store: BaseStore, reference: BaseStore) -> None:
    spaces = [
        ("users", "u1", "memories"),
        ("users", "u2", "memories"),
        ("users", "u2", "prefs"),
        ("teams", "t1", "memories"),
        ("teams",),
    ]
    for s in (any_store, reference):
        for i, ns in enumerate(spaces):
            s.put(ns, str(i), {"text": "x"})
    for kwargs in [
        {},
        {"prefix": ("users",)},
        {"suffix": ("memories",)},
        {"prefix": ("users", "*", "prefs")},
        {"prefix": ("*", "u2")},
        {"max_depth": 1},
        {"max_depth": 2, "prefix": ("users",)},
        {"limit": 2},
        {"limit": 2, "offset": 2},
    ]:
        both(any_store, reference, lambda s, kw=kwargs: s.list_namespaces(**kw))


@pytest.fixture
def titled_store(store_kind: str, tmp_path: Any) -> Any:
    with FACTORIES[store_kind](tmp_path, hashing_index(fields=["title"])) as store:
        yield store


def test_index_fields_honoured(titled_store: BaseStore) -> None:
    reference = InMemoryStore(index=hashing_index(fields=["title"]))
    for s in (titled_store, reference):
        s.put(("docs",), "t", {"title": "volcano eruption", "body": "nothing relevant"})
        s.put(("docs",), "b", {"title": "nothing relevant", "body": "volcano eruption"})
        s.put(("docs",), "o", {"title": "sea", "body": "volcano eruption"}, index=["body"])
        s.put(("docs",), "n", {"title": "volcano eruption", "body": "x"}, index=False)
    for s in (titled_store, reference):
        hits = s.search(("docs",), query="volcano eruption", limit=10)
        keys = [i.key for i in hits]
        assert set(keys[:2]) == {"t", "o"}, keys
        assert keys[-1] == "n" and hits[-1].score is None, "unindexed items come last, unscored"
        assert set(keys) == {"t", "b", "o", "n"}


def test_batch_reads_see_state_before_its_puts(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        s.put(("ns",), "k", {"text": "old"})

    def run(s: BaseStore) -> Any:
        return s.batch(
            [
                PutOp(("ns",), "k", {"text": "new"}),
                GetOp(("ns",), "k"),
                PutOp(("ns",), "k2", {"text": "first"}),
                PutOp(("ns",), "k2", {"text": "last wins"}),
                SearchOp(("ns",)),
            ]
        )

    got = run(any_store)
    expected = run(reference)
    assert [view(r) for r in got] == [view(r) for r in expected]
    both(any_store, reference, lambda s: s.search(("ns",)))
    assert any_store.get(("ns",), "k2").value == {"text": "last wins"}  # type: ignore[union-attr]


async def test_async_methods(any_store: BaseStore, reference: BaseStore) -> None:
    for s in (any_store, reference):
        for key, value in PETS.items():
            await s.aput(("pets", "u1"), key, value)
        await s.adelete(("pets", "u1"), "b")
    for s in (any_store,):
        item = await s.aget(("pets", "u1"), "a")
        assert item is not None and item.value == PETS["a"]
        assert await s.aget(("pets", "u1"), "b") is None
    got = await any_store.asearch(("pets",), filter={"kind": "pet"})
    expected = await reference.asearch(("pets",), filter={"kind": "pet"})
    assert view(got) == view(expected)
    hits = await any_store.asearch(("pets",), query="piano lessons", limit=2)
    assert hits[0].key == "d"
    assert await any_store.alist_namespaces() == await reference.alist_namespaces()
    results = await any_store.abatch([GetOp(("pets", "u1"), "c"), SearchOp(("pets",), limit=1)])
    assert view(results[0]) == (("pets", "u1"), "c", PETS["c"])
    assert len(results[1]) == 1  # type: ignore[arg-type]


def test_store_without_index_ignores_query(store_kind: str, tmp_path: Any) -> None:
    with FACTORIES[store_kind](tmp_path, None) as store:
        reference = InMemoryStore()
        for s in (store, reference):
            fill(s)
        both(store, reference, lambda s: s.search(("pets",), query="piano", limit=3))
