"""A closed version is indexed with the texts its memory was (``reverie.ledger.timeline``).

With the store's default fields ``["$"]`` a memory is embedded as the JSON of its value; its
closed version, once replaced or deleted, must be embedded as that same text, not as its own
bookkeeping value (``memory_key``, ``valid_from``, ...), so an ``as_of`` search scores it as the
memory it was and ``min_score`` keeps it. A memory written with its own ``index=`` keeps that
choice when closed, whatever the write that closes it asks for itself: ``False`` (not indexed)
leaves the closed version without a score in searches by query, as the memory was; a list of
fields (or an ``IndexFields``) indexes it by those.

Each case compares an ``as_of`` search of a store that lived through the change with the same
search of a fresh store holding only the memory as it was then, on every backend.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import SearchItem

from reverie.core.indexing import IndexFields
from reverie.ledger import port_for
from reverie.ledger.timeline import MEMORY_COPY, past_namespace
from reverie.testing import hashing_index
from tests.store_factories import FACTORIES
from tests.time.test_as_of_ranking import Note, manager_on

NS = ("memories", "ana")
QUERY = "where does Ana live"
Index = Literal[False] | list[str] | None


LISBON = Note(content="Ana lives in Lisbon", topic="home")
PORTO = Note(content="Ana lives in Porto", topic="home")


def when(month: int) -> RunnableConfig:
    return {"configurable": {"reference_time": datetime(2024, month, 1, tzinfo=timezone.utc)}}


MARCH = datetime(2024, 3, 1, tzinfo=timezone.utc)


def scored(found: list[SearchItem]) -> list[tuple[str, dict[str, Any], float | None]]:
    return [(item.key, item.value, item.score) for item in found]


def assert_same(got: list[SearchItem], want: list[SearchItem]) -> None:
    assert [(k, v) for k, v, _ in scored(got)] == [(k, v) for k, v, _ in scored(want)]
    for (_, _, g), (_, _, w) in zip(scored(got), scored(want), strict=True):
        assert (g is None) == (w is None), (g, w)
        if g is not None and w is not None:
            assert abs(g - w) <= 1e-6, (g, w)


KINDS = [
    pytest.param(kind, marks=[pytest.mark.postgres] if kind.startswith("postgres") else [])
    for kind in sorted(FACTORIES)
]
INDEXES = [
    pytest.param(None, id="store-default"),
    pytest.param(False, id="not-indexed"),
    pytest.param(["content.content"], id="content"),
    pytest.param(IndexFields(["content.content"], keywords=["content.topic"]), id="index-fields"),
]


@pytest.mark.parametrize("closed_by", ["update", "delete"])
@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_closed_version_scores_as_the_memory_it_was(
    kind: str, index: Index, closed_by: str, tmp_path: Path
) -> None:
    # The store's default fields: ["$"], the whole value.
    with FACTORIES[kind](tmp_path / "history", hashing_index(256)) as store:
        manager = manager_on(store)
        manager.put("home", LISBON, index=index, config=when(1))
        # The write that closes it asks for the store's fields: the version closed keeps its own.
        if closed_by == "update":
            manager.put("home", PORTO, config=when(5))
        else:
            manager.delete("home", config=when(5))
        then = manager.search(query=QUERY, as_of=MARCH)
        listed = manager.search(as_of=MARCH)  # without a query: found whatever its index
    with FACTORIES[kind](tmp_path / "fresh", hashing_index(256)) as fresh:
        manager = manager_on(fresh)
        manager.put("home", LISBON, index=index, config=when(1))
        alone = manager.search(query=QUERY)
    assert_same(then, alone)
    assert [item.value["content"] for item in listed] == [LISBON.model_dump()]
    if index is False:
        assert [item for item in then if item.score is not None] == []
    else:
        assert then and then[0].score is not None and then[0].score > 0.1


@pytest.mark.parametrize("kind", KINDS)
def test_min_score_keeps_a_past_memory_as_it_keeps_the_memory(kind: str, tmp_path: Path) -> None:
    """The symptom: a threshold the memory passes in a fresh store left its closed version out."""
    with FACTORIES[kind](tmp_path / "fresh", hashing_index(256)) as fresh:
        manager = manager_on(fresh)
        manager.put("home", LISBON, config=when(1))
        (alone,) = manager.search(query=QUERY)
    assert alone.score is not None
    with FACTORIES[kind](tmp_path / "history", hashing_index(256)) as store:
        manager = manager_on(store)
        manager.put("home", LISBON, config=when(1))
        manager.put("home", PORTO, config=when(5))
        kept = manager.search(query=QUERY, as_of=MARCH, min_score=alone.score - 1e-3)
    assert [item.value["content"] for item in kept] == [LISBON.model_dump()]


@pytest.mark.parametrize("kind", KINDS)
def test_the_past_value_copies_the_memory_only_where_its_fields_need_it(
    kind: str, tmp_path: Path
) -> None:
    """``kind`` and ``content`` stay at the top (readers and filters see them there); the copy
    is only made where the fields reach beyond them."""
    with FACTORIES[kind](tmp_path, hashing_index(256)) as store:
        manager = manager_on(store)
        manager.put("whole", LISBON, config=when(1))
        manager.put("text", LISBON, index=["content.content"], config=when(1))
        for key in ("whole", "text"):
            manager.put(key, PORTO, config=when(5))
        past = {item.key: item.value for item in store.search(past_namespace(NS), limit=10)}
        assert port_for(store).default_index_fields() == ["$"]
    memory = {"kind": "Note", "content": LISBON.model_dump()}
    for value in past.values():
        assert {k: value[k] for k in ("kind", "content")} == memory
    assert past["whole@1"][MEMORY_COPY] == memory
    assert MEMORY_COPY not in past["text@1"]
