"""One filter language on every backend: the same filter gives the same items, or the same error.

Each filter runs through the storage port on every backend (InMemoryStore through the adapter)
and, on Reverie's own stores, through LangGraph's ``search`` too; the expected items are those
``reverie.core.filters.matches`` (the reference meaning) accepts, and a few are also written out
by hand so the reference itself is pinned.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import BaseStore

from reverie.core.errors import FilterError, InputError, LimitError
from reverie.core.filters import checked_filter, matches
from reverie.core.limits import Limits
from reverie.core.ports import NamespaceSearch, NativeStore
from reverie.ledger import port_for
from tests.reliability.hostile import HOSTILE_FILTERS

NS = ("parity", "u1")
ITEMS: dict[str, dict[str, Any]] = {
    "a": {
        "text": "dog Rex",
        "kind": "pet",
        "age": 3,
        "flag": True,
        "tags": ["a", "b"],
        "meta": {"owner": "ann", "n": 1},
        "nested": [[1, 2], [3]],
    },
    "b": {
        "text": "cat",
        "kind": "habit",
        "age": 7.5,
        "flag": 1,
        "tags": ["b"],
        "meta": {"owner": "bob"},
    },
    "c": {"text": "parrot", "kind": "pet", "age": "12", "flag": "1", "meta": "not an object"},
    "d": {"text": "fish", "kind": None, "age": None, "flag": False, "tags": []},
    "e": {"text": "newt", "age": 0, "flag": 0.0, "meta": {}},
    "f": {
        "text": "hamster",
        "kind": "pet",
        "age": -2,
        "flag": 1.0,
        "tags": ["a", "b", "c"],
        "meta": {"owner": None},
    },
    "g": {"text": "snake", "kind": "Pet", "age": 2**53, "big": 10**20},
    "h": {"text": "horse", "kind": "pet", "age": True},
    "i": {"text": "koi", "kind": "é東", "unicode": "é東🎌"},
}
FILTERS: list[dict[str, Any]] = [
    {"kind": "pet"},
    {"kind": None},
    {"kind": {"$eq": None}},
    {"kind": {"$ne": None}},
    {"kind": {"$ne": "pet"}},
    {"flag": True},
    {"flag": 1},
    {"flag": 0},
    {"flag": False},
    {"flag": "1"},
    {"flag": {"$eq": 1.0}},
    {"age": 3},
    {"age": 3.0},
    {"age": 7.5},
    {"age": "12"},
    {"age": {"$gt": 2}},
    {"age": {"$gte": 3, "$lt": 12}},
    {"age": {"$lte": 0}},
    {"age": {"$gt": -100}},
    {"age": {"$ne": 3}},
    {"age": 2**53},
    {"big": {"$gt": 10**15}},
    {"tags": ["a", "b"]},
    {"tags": ["b", "a"]},
    {"tags": []},
    {"tags": {"$eq": "a"}},
    {"meta": {"owner": "ann"}},
    {"meta": {"owner": None}},
    {"meta": {}},
    {"meta": {"owner": {"$ne": "ann"}}},
    {"meta": {"n": {"$gte": 1}}},
    {"nested": [[1, 2], [3]]},
    {"unicode": "é東🎌"},
    {"kind": "pet", "age": {"$gt": 0}},
    {"missing": None},
    {"missing": {"$ne": None}},
    {"kind": {"$gt": 1}},
    {"kind": "pe\x00t"},
]
BY_HAND = {  # pins the reference meaning for a few filters
    0: "acfh",  # kind == "pet"
    1: "de",  # null or missing
    5: "abf",  # True == 1 == 1.0
    15: "abg",  # numbers only: not "12", not True
    27: "ef",  # meta is an object whose owner is null or missing
    29: "bef",
}


def expected(filter: dict[str, Any]) -> str:
    checked = checked_filter(filter, Limits())
    return "".join(key for key, value in ITEMS.items() if matches(value, checked))


@pytest.fixture
def filled(any_store: BaseStore) -> BaseStore:
    for key, value in ITEMS.items():
        any_store.put(NS, key, value)
    any_store.put(("parity", "u1", "below"), "z", {"kind": "pet"})  # never in an exact search
    return any_store


def found(store: BaseStore, filter: Any, query: str | None = None) -> str:
    (items,) = port_for(store).batch([NamespaceSearch(NS, query=query, filter=filter, limit=50)])
    return "".join(sorted(i.key for i in items))  # type: ignore[union-attr]


def test_the_reference_meaning() -> None:
    for index, keys in BY_HAND.items():
        assert expected(FILTERS[index]) == keys, FILTERS[index]


@pytest.mark.parametrize("index", range(len(FILTERS)), ids=[repr(f)[:40] for f in FILTERS])
def test_same_filter_same_items_on_every_backend(filled: BaseStore, index: int) -> None:
    filter = FILTERS[index]
    assert found(filled, filter) == expected(filter)
    assert found(filled, filter, query="dog pet") == expected(filter)
    if isinstance(filled, NativeStore):  # LangGraph's own search API, on Reverie's stores
        direct = filled.search(NS[:1], filter=filter, limit=50)
        assert "".join(sorted(i.key for i in direct if i.namespace == NS)) == expected(filter)


@pytest.mark.parametrize("name", sorted(HOSTILE_FILTERS))
def test_same_bad_filter_same_error_on_every_backend(filled: BaseStore, name: str) -> None:
    with pytest.raises((FilterError, LimitError)) as reference:
        checked_filter(HOSTILE_FILTERS[name], Limits())
    with pytest.raises(InputError) as caught:
        found(filled, HOSTILE_FILTERS[name])
    assert (type(caught.value), str(caught.value)) == (
        type(reference.value),
        str(reference.value),
    )
    if isinstance(filled, NativeStore):
        with pytest.raises(InputError) as direct:
            filled.search(NS, filter=HOSTILE_FILTERS[name])
        assert str(direct.value) == str(reference.value)
