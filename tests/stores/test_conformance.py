"""Store conformance: every backend gives the results written out here.

Each case runs on every backend (``memory``: LangGraph's InMemoryStore, ``embedded``,
``postgres``, ``postgres_async``) and compares what a user sees (keys, namespaces, values, in
order where order is defined) with fixed expected results, never with another backend. The
expectations are InMemoryStore's behaviour. Where backends legitimately differ (hybrid ranking
orders lower hits differently from pure vector ranking; InMemoryStore has no TTL) the cases
assert what a user can rely on: the best hit and the set of items, or a clear refusal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, Item, PutOp, SearchOp

from reverie.testing import hashing_index
from tests.helpers import all_floats
from tests.store_factories import FACTORIES

U1 = ("pets", "u1")
U2 = ("pets", "u2")
PETS = {
    "a": {"text": "my dog Rex loves long walks in the park", "kind": "pet", "age": 3},
    "b": {"text": "the cat sleeps on the warm windowsill", "kind": "pet", "age": 7},
    "c": {"text": "coffee with oat milk every morning", "kind": "habit", "age": 1},
    "d": {"text": "weekly piano lessons on thursday evening", "kind": "habit", "age": 12},
    "e": {"text": "parrot named Kiwi repeats every word", "kind": "pet", "age": 30},
}

View = tuple[tuple[str, ...], str, dict[str, Any]]


def view(item: Item | None) -> View | None:
    """What a user compares: (namespace, key, value), without timestamps and scores."""
    return None if item is None else (tuple(item.namespace), item.key, item.value)


def views(items: list[Any]) -> list[View | None]:
    return [view(i) for i in items]


def keys(items: list[Any]) -> list[tuple[str, str]]:
    """``(dotted namespace, key)`` of each item, in order."""
    return [(".".join(i.namespace), i.key) for i in items]


def fill(store: BaseStore, ns: tuple[str, ...] = U1) -> None:
    for key, value in PETS.items():
        store.put(ns, key, value)


def test_put_get_overwrite_delete(any_store: BaseStore) -> None:
    fill(any_store)
    assert view(any_store.get(U1, "a")) == (U1, "a", PETS["a"])
    assert any_store.get(U1, "missing") is None
    assert any_store.get(("pets", "nobody"), "a") is None
    older = {"text": "my dog Rex is now old", "kind": "pet", "age": 13}
    any_store.put(U1, "a", older)
    any_store.delete(U1, "b")
    any_store.delete(U1, "never-existed")
    assert view(any_store.get(U1, "a")) == (U1, "a", older)
    assert any_store.get(U1, "b") is None
    assert views(any_store.search(("pets",), limit=100)) == [
        (U1, "a", older),
        (U1, "c", PETS["c"]),
        (U1, "d", PETS["d"]),
        (U1, "e", PETS["e"]),
    ]


def test_values_round_trip_unchanged(any_store: BaseStore) -> None:
    value = {"n": 1, "f": 2.5, "b": True, "none": None, "list": [1, "x", {"y": [2]}], "u": "é✓"}
    any_store.put(("ns",), "k", value)
    item = any_store.get(("ns",), "k")
    assert item is not None and item.value == value
    assert item.created_at is not None and item.updated_at is not None


# After the writes in the test below: u1 in insertion order (c overwritten in place, a deleted
# and added again, so last), then u2, whose namespace came second.
LISTING = [
    ("pets.u1", "b"),
    ("pets.u1", "c"),
    ("pets.u1", "d"),
    ("pets.u1", "e"),
    ("pets.u1", "a"),
    ("pets.u2", "a"),
    ("pets.u2", "b"),
    ("pets.u2", "c"),
    ("pets.u2", "d"),
    ("pets.u2", "e"),
]


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (10, 0, LISTING),
        (2, 0, [("pets.u1", "b"), ("pets.u1", "c")]),
        (2, 2, [("pets.u1", "d"), ("pets.u1", "e")]),
        (3, 4, [("pets.u1", "a"), ("pets.u2", "a"), ("pets.u2", "b")]),
        (100, 9, [("pets.u2", "e")]),
        (5, 50, []),
    ],
)
def test_listing_order_limit_offset(
    any_store: BaseStore, limit: int, offset: int, expected: list[tuple[str, str]]
) -> None:
    fill(any_store)
    fill(any_store, U2)
    replaced = {"text": "overwritten keeps its place", "kind": "x", "age": 0}
    any_store.put(U1, "c", replaced)
    any_store.delete(U1, "a")
    any_store.put(U1, "a", {"text": "re-added goes last", "kind": "x", "age": 0})
    page = any_store.search(("pets",), limit=limit, offset=offset)
    assert keys(page) == expected
    if ("pets.u1", "c") in expected:
        assert next(i.value for i in page if i.key == "c" and i.namespace[1] == "u1") == replaced
    assert keys(any_store.search(U2, limit=3, offset=1)) == [
        ("pets.u2", "b"),
        ("pets.u2", "c"),
        ("pets.u2", "d"),
    ]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"kind": "pet"}, "abehijkl"),
        ({"kind": {"$eq": "habit"}}, "cd"),
        ({"kind": {"$ne": "pet"}}, "cdfg"),  # a missing field is not equal
        ({"age": {"$gt": 3}}, "bdeghijkl"),  # numbers as numbers: 12 > 3, 40 > 3
        ({"age": {"$gte": 3}}, "abdeghijkl"),
        ({"age": {"$lt": 7}}, "acfhijkl"),
        ({"age": {"$lte": 7, "$gt": 1}}, "abfhijkl"),
        ({"kind": "pet", "age": {"$gte": 7}}, "be"),
        ({"meta": {"owner": "ann"}}, "f"),  # nested objects, field by field
        ({"meta": {"owner": {"$ne": "ann"}}}, "g"),
        ({"tags": ["a", "b"]}, "f"),  # lists in order
        ({"missing": "x"}, ""),
        ({"flag": True}, "hik"),  # as in Python, True == 1 == 1.0
        ({"flag": 1}, "hik"),
        ({"flag": "1"}, "j"),
        ({"flag": {"$eq": 1.0}}, "hik"),
        ({"flag": 0, "kind": "pet"}, "l"),
    ],
)
def test_filters(any_store: BaseStore, filter: dict[str, Any], expected: str) -> None:
    fill(any_store)
    any_store.put(U1, "f", {"text": "x", "meta": {"owner": "ann"}, "tags": ["a", "b"], "age": 2})
    any_store.put(U1, "g", {"text": "y", "meta": {"owner": "bob"}, "tags": ["b", "a"], "age": 40})
    for key, flag in [("h", True), ("i", 1), ("j", "1"), ("k", 1.0), ("l", False)]:
        any_store.put(U1, key, {"text": "flagged", "flag": flag, "age": 5, "kind": "pet"})
    found = any_store.search(("pets",), filter=filter, limit=50)
    assert "".join(i.key for i in found) == expected
    second = any_store.search(("pets",), filter=filter, limit=1, offset=1)
    assert "".join(i.key for i in second) == expected[1:2]


@pytest.mark.parametrize(
    ("query", "best"), [("piano lessons", "d"), ("oat milk coffee", "c"), ("dog Rex", "a")]
)
def test_query_search_best_hit_and_result_set(any_store: BaseStore, query: str, best: str) -> None:
    fill(any_store)
    hits = any_store.search(("pets",), query=query, limit=10)
    assert hits[0].key == best
    assert sorted(i.key for i in hits) == ["a", "b", "c", "d", "e"]
    scores = [i.score for i in hits]
    assert all_floats(scores)
    assert scores == sorted(scores, reverse=True)


def test_query_with_filter_limit_offset(any_store: BaseStore) -> None:
    fill(any_store)
    hits = any_store.search(("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=10)
    assert hits[0].key == "e"
    assert sorted(i.key for i in hits) == ["a", "b", "e"]
    page = any_store.search(("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=2)
    rest = any_store.search(
        ("pets",), query="parrot Kiwi", filter={"kind": "pet"}, limit=2, offset=2
    )
    assert [i.key for i in page + rest] == [i.key for i in hits]


def test_namespace_prefix_is_label_wise(any_store: BaseStore) -> None:
    any_store.put(("a", "b"), "1", {"text": "in a.b"})
    any_store.put(("a", "b", "c"), "2", {"text": "in a.b.c"})
    any_store.put(("a", "bc"), "3", {"text": "in a.bc, not under a.b"})
    any_store.put(("x",), "4", {"text": "elsewhere"})
    assert views(any_store.search(("a", "b"))) == [
        (("a", "b"), "1", {"text": "in a.b"}),
        (("a", "b", "c"), "2", {"text": "in a.b.c"}),
    ]
    assert keys(any_store.search(("a",))) == [("a.b", "1"), ("a.b.c", "2"), ("a.bc", "3")]
    assert keys(any_store.search(())) == [("a.b", "1"), ("a.b.c", "2"), ("a.bc", "3"), ("x", "4")]
    assert sorted(i.key for i in any_store.search(("a", "b"), query="in a.b")) == ["1", "2"]


SPACES = [
    ("users", "u1", "memories"),
    ("users", "u2", "memories"),
    ("users", "u2", "prefs"),
    ("teams", "t1", "memories"),
    ("teams",),
]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {},
            [
                ("teams",),
                ("teams", "t1", "memories"),
                ("users", "u1", "memories"),
                ("users", "u2", "memories"),
                ("users", "u2", "prefs"),
            ],
        ),
        (
            {"prefix": ("users",)},
            [("users", "u1", "memories"), ("users", "u2", "memories"), ("users", "u2", "prefs")],
        ),
        (
            {"suffix": ("memories",)},
            [("teams", "t1", "memories"), ("users", "u1", "memories"), ("users", "u2", "memories")],
        ),
        ({"prefix": ("users", "*", "prefs")}, [("users", "u2", "prefs")]),
        ({"prefix": ("*", "u2")}, [("users", "u2", "memories"), ("users", "u2", "prefs")]),
        ({"max_depth": 1}, [("teams",), ("users",)]),
        ({"max_depth": 2, "prefix": ("users",)}, [("users", "u1"), ("users", "u2")]),
        ({"limit": 2}, [("teams",), ("teams", "t1", "memories")]),
        ({"limit": 2, "offset": 2}, [("users", "u1", "memories"), ("users", "u2", "memories")]),
    ],
)
def test_list_namespaces(
    any_store: BaseStore, arguments: dict[str, Any], expected: list[tuple[str, ...]]
) -> None:
    for i, ns in enumerate(SPACES):
        any_store.put(ns, str(i), {"text": "x"})
    assert any_store.list_namespaces(**arguments) == expected


@pytest.fixture
def titled_store(store_kind: str, tmp_path: Path) -> Iterator[BaseStore]:
    with FACTORIES[store_kind](tmp_path, hashing_index(fields=["title"])) as store:
        yield store


def test_index_fields_honoured(titled_store: BaseStore) -> None:
    titled_store.put(("docs",), "t", {"title": "volcano eruption", "body": "nothing relevant"})
    titled_store.put(("docs",), "b", {"title": "nothing relevant", "body": "volcano eruption"})
    titled_store.put(("docs",), "o", {"title": "sea", "body": "volcano eruption"}, index=["body"])
    titled_store.put(("docs",), "n", {"title": "volcano eruption", "body": "x"}, index=False)
    hits = titled_store.search(("docs",), query="volcano eruption", limit=10)
    keys_found = [i.key for i in hits]
    assert set(keys_found[:2]) == {"t", "o"}, keys_found
    assert keys_found[-1] == "n" and hits[-1].score is None, "unindexed items come last, unscored"
    assert sorted(keys_found) == ["b", "n", "o", "t"]


def test_batch_reads_see_state_before_its_puts(any_store: BaseStore) -> None:
    any_store.put(("ns",), "k", {"text": "old"})
    results = any_store.batch(
        [
            PutOp(("ns",), "k", {"text": "new"}),
            GetOp(("ns",), "k"),
            PutOp(("ns",), "k2", {"text": "first"}),
            PutOp(("ns",), "k2", {"text": "last wins"}),
            SearchOp(("ns",)),
        ]
    )
    old = (("ns",), "k", {"text": "old"})
    assert results[0] is None and results[2] is None and results[3] is None
    assert isinstance(results[1], Item) and isinstance(results[4], list)
    assert view(results[1]) == old
    assert views(results[4]) == [old]
    assert views(any_store.search(("ns",))) == [
        (("ns",), "k", {"text": "new"}),
        (("ns",), "k2", {"text": "last wins"}),
    ]


async def test_async_methods(any_store: BaseStore) -> None:
    for key, value in PETS.items():
        await any_store.aput(U1, key, value)
    await any_store.adelete(U1, "b")
    item = await any_store.aget(U1, "a")
    assert view(item) == (U1, "a", PETS["a"])
    assert await any_store.aget(U1, "b") is None
    pets = await any_store.asearch(("pets",), filter={"kind": "pet"})
    assert views(pets) == [(U1, "a", PETS["a"]), (U1, "e", PETS["e"])]
    hits = await any_store.asearch(("pets",), query="piano lessons", limit=2)
    assert hits[0].key == "d"
    assert await any_store.alist_namespaces() == [U1]
    results = await any_store.abatch([GetOp(U1, "c"), SearchOp(("pets",), limit=1)])
    assert isinstance(results[0], Item) and isinstance(results[1], list)
    assert view(results[0]) == (U1, "c", PETS["c"])
    assert keys(results[1]) == [("pets.u1", "a")]


def test_store_without_index_ignores_query(store_kind: str, tmp_path: Path) -> None:
    with FACTORIES[store_kind](tmp_path, None) as store:
        fill(store)
        hits = store.search(("pets",), query="piano", limit=3)
        assert views(hits) == [(U1, "a", PETS["a"]), (U1, "b", PETS["b"]), (U1, "c", PETS["c"])]
        assert [h.score for h in hits] == [None, None, None]


# ----------------------------------------------------------------------------------- TTL
# InMemoryStore has no TTL: it refuses one rather than ignore it. The other backends expire
# items and restart their TTL when read (get and search), unless the read says refresh_ttl=False.

TTL_S = 1.5  # seconds; long enough for the reads below on a busy machine


def refuses_ttl(store: BaseStore) -> bool:
    if store.supports_ttl:
        return False
    with pytest.raises(NotImplementedError):
        store.put(U1, "t", {"text": "x"}, ttl=TTL_S / 60)
    assert store.get(U1, "t", refresh_ttl=True) is None
    return True


def test_items_expire_after_their_ttl(any_store: BaseStore) -> None:
    if refuses_ttl(any_store):
        return
    any_store.put(U1, "brief", {"text": "brief"}, ttl=TTL_S / 60)
    any_store.put(U1, "lasting", {"text": "lasting"}, ttl=60)
    any_store.put(U1, "forever", {"text": "forever"})
    assert any_store.get(U1, "brief") is not None
    time.sleep(TTL_S + 0.3)
    assert any_store.get(U1, "brief") is None
    assert [i.key for i in any_store.search(U1)] == ["lasting", "forever"]
    assert sorted(i.key for i in any_store.search(U1, query="brief")) == ["forever", "lasting"]


def read_with_and_without_refresh(
    store: BaseStore, read: Callable[[BaseStore, str, bool | None], object]
) -> tuple[bool, bool] | None:
    """Put two items with a TTL, read one with refresh and one without halfway through, and
    look after the first TTL ran out: (refreshed one still there, other one still there).
    None when this machine was too slow to look before the refreshed TTL ran out as well."""
    for key in ("fresh", "stale"):
        store.put(U1, key, {"text": key, "key": key}, ttl=TTL_S / 60)
    written = time.monotonic()
    time.sleep(TTL_S / 2)
    read_at = time.monotonic()
    read(store, "fresh", None)  # refresh_ttl left to the default: refresh
    read(store, "stale", False)
    time.sleep(max(0.0, written + TTL_S + 0.2 - time.monotonic()))
    found = (store.get(U1, "fresh", refresh_ttl=False), store.get(U1, "stale", refresh_ttl=False))
    if time.monotonic() >= read_at + TTL_S:
        return None
    return found[0] is not None, found[1] is not None


def get_item(store: BaseStore, key: str, refresh: bool | None) -> object:
    return store.get(U1, key, refresh_ttl=refresh)


def search_item(store: BaseStore, key: str, refresh: bool | None) -> object:
    found = store.search(U1, filter={"key": key}, refresh_ttl=refresh)
    assert [i.key for i in found] == [key]
    return found


def query_item(store: BaseStore, key: str, refresh: bool | None) -> object:
    found = store.search(U1, query=key, filter={"key": key}, refresh_ttl=refresh)
    assert [i.key for i in found] == [key]
    return found


@pytest.mark.parametrize("read", [get_item, search_item, query_item])
def test_reads_refresh_the_ttl_unless_told_not_to(
    any_store: BaseStore, read: Callable[[BaseStore, str, bool | None], object]
) -> None:
    if refuses_ttl(any_store):
        return
    for _ in range(3):  # a rerun only when the machine stalled for longer than the margins
        outcome = read_with_and_without_refresh(any_store, read)
        if outcome is not None:
            assert outcome == (True, False)
            return
    pytest.fail("this machine was too slow to time the TTL reads three times in a row")
