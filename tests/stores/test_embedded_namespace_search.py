"""``NamespaceSearch`` on the embedded store: one namespace, ranked, filtered, paged and expired
exactly as ``SearchOp`` is, and with ``descendants=True`` identical to ``SearchOp``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import PutOp, Result, SearchItem, SearchOp

from reverie.core.errors import InputError, NamespaceError
from reverie.core.ports import NamespaceSearch
from reverie.stores.embedded import EmbeddedStore
from tests.stores.embedded_helpers import indexed

ALICE = ("memories", "alice")
TOPICS = ["tea", "chess", "Porto", "dogs", "piano"]
REQUESTS: list[dict[str, Any]] = [
    {"query": "tea and chess", "limit": 10},
    {"query": "Porto", "limit": 3, "offset": 2},
    {"query": "dogs", "filter": {"rank": {"$gte": 5}}, "limit": 4},
    {"query": "piano", "filter": {"topic": "tea"}, "limit": 5},
    {"query": None, "limit": 7, "offset": 1},
    {"query": None, "filter": {"topic": "chess"}, "limit": 20},
    {"query": "nothing matches this", "limit": 100},
]


def notes(namespace: tuple[str, ...], count: int, prefix: str) -> list[PutOp]:
    return [
        PutOp(
            namespace,
            f"{prefix}{i}",
            {"text": f"{prefix} note {i} about {TOPICS[i % 5]}", "topic": TOPICS[i % 5], "rank": i},
            index=False if i % 9 == 4 else None,  # some items have nothing to rank by
        )
        for i in range(count)
    ]


def page(result: Result) -> list[tuple[str, str, float | None]]:
    assert isinstance(result, list)
    return [("/".join(i.namespace), i.key, i.score) for i in result if isinstance(i, SearchItem)]


@pytest.fixture(params=["hybrid", "vector", "keyword"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[EmbeddedStore, ...]]:
    """A store with Alice's notes, her team's below them and a sibling namespace; and a store
    with Alice's notes only, written in the same order."""
    mode = request.param
    full = EmbeddedStore(tmp_path / "full.db", index=indexed(), search_mode=mode)
    alone = EmbeddedStore(tmp_path / "alone.db", index=indexed(), search_mode=mode)
    full.batch(notes(ALICE, 25, "a")[:10])
    full.batch(notes((*ALICE, "team"), 30, "t"))
    full.batch(notes(ALICE, 25, "a")[10:] + notes(("memories", "alice2"), 10, "x"))
    alone.batch(notes(ALICE, 25, "a"))
    yield full, alone
    full.close()
    alone.close()


@pytest.mark.parametrize("request_args", REQUESTS)
def test_descendants_search_equals_search_op(
    stores: tuple[EmbeddedStore, ...], request_args: dict[str, Any]
) -> None:
    full, _ = stores
    ours, theirs = full.batch(
        [NamespaceSearch(ALICE, descendants=True, **request_args), SearchOp(ALICE, **request_args)]
    )
    assert page(ours) == page(theirs)


def test_descendants_reach_deeper_namespaces_only(stores: tuple[EmbeddedStore, ...]) -> None:
    full, _ = stores
    (found,) = full.batch([NamespaceSearch(ALICE, query="tea", limit=100, descendants=True)])
    namespaces = {ns for ns, _, _ in page(found)}
    assert namespaces == {"memories/alice", "memories/alice/team"}
    assert len(page(found)) == 55


@pytest.mark.parametrize("request_args", REQUESTS)
def test_one_namespace_ranks_as_if_it_were_alone(
    stores: tuple[EmbeddedStore, ...], request_args: dict[str, Any]
) -> None:
    full, alone = stores
    (ours,) = full.batch([NamespaceSearch(ALICE, **request_args)])
    (theirs,) = alone.batch([SearchOp(ALICE, **request_args)])
    found = page(ours)
    assert [(k, s) for _, k, s in found] == [(k, s) for _, k, s in page(theirs)]
    assert {ns for ns, _, _ in found} <= {"memories/alice"}


def test_async_namespace_search_matches_sync(stores: tuple[EmbeddedStore, ...]) -> None:
    full, _ = stores
    ops = [NamespaceSearch(ALICE, query="tea", limit=5), NamespaceSearch(ALICE, descendants=True)]
    assert [page(r) for r in asyncio.run(full.abatch(ops))] == [page(r) for r in full.batch(ops)]


def test_a_batch_searches_before_its_puts(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        store.put(ALICE, "old", {"text": "tea"})
        before, _, after = store.batch(
            [
                NamespaceSearch(ALICE, query="tea"),
                PutOp(ALICE, "new", {"text": "more tea"}),
                NamespaceSearch(ALICE, query="tea"),
            ]
        )
        assert [k for _, k, _ in page(before)] == ["old"] == [k for _, k, _ in page(after)]
        (now,) = store.batch([NamespaceSearch(ALICE, query="tea")])
        assert sorted(k for _, k, _ in page(now)) == ["new", "old"]


def test_the_root_namespace(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        store.put(ALICE, "k", {"text": "tea"})
        exact, everything = store.batch(
            [NamespaceSearch(()), NamespaceSearch((), descendants=True)]
        )
        assert page(exact) == [] and [k for _, k, _ in page(everything)] == ["k"]


def test_unknown_namespaces_and_empty_pages(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        store.put(ALICE, "k", {"text": "tea"})
        results = store.batch(
            [
                NamespaceSearch(("memories", "nobody"), query="tea"),
                NamespaceSearch(("memories",), query="tea"),  # only a parent of Alice's
                NamespaceSearch(ALICE, query="tea", limit=0),
                NamespaceSearch(ALICE, query="tea", offset=5),
            ]
        )
        assert [page(r) for r in results] == [[], [], [], []]


def test_malformed_searches_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        with pytest.raises(InputError, match=r"\$near"):
            store.batch(
                [PutOp(ALICE, "k", {"x": 1}), NamespaceSearch(ALICE, filter={"x": {"$near": 1}})]
            )
        with pytest.raises(NamespaceError, match="labels"):
            store.batch([PutOp(ALICE, "k", {"x": 1}), NamespaceSearch(("memories.alice",))])
        assert store.get(ALICE, "k") is None
