"""The storage port on every backend: atomic checked commits, exact-namespace search.

Each case runs on InMemoryStore (through the adapter), the embedded store and both PostgreSQL
stores (natively), and compares with results written out here, never with another backend.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, GetOp, IndexConfig, Item, PutOp, Result

from reverie.core.ports import (
    AlsoSearched,
    CommitResult,
    Expectation,
    MemoryStorePort,
    NamespaceSearch,
    NativeStore,
    RestoredItem,
)
from reverie.ledger import port_for
from reverie.testing import HashingEmbeddings, hashing_index
from tests.store_factories import FACTORIES

ALICE = ("memories", "alice")
BOB = ("memories", "bob")


@pytest.fixture
def port(any_store: BaseStore) -> MemoryStorePort:
    return port_for(any_store)


def memory(text: str) -> dict[str, Any]:
    return {"kind": "Memory", "content": {"content": text}}


def read(port: MemoryStorePort, namespace: tuple[str, ...], key: str) -> Item | None:
    (item,) = port.batch([GetOp(namespace, key)])
    assert item is None or isinstance(item, Item)
    return item


def items_in(result: Result) -> list[Item]:
    """The items of a search result."""
    assert isinstance(result, list)
    items = []
    for item in result:
        assert isinstance(item, Item)
        items.append(item)
    return items


def search(port: MemoryStorePort, request: NamespaceSearch) -> list[tuple[str, str]]:
    (items,) = port.batch([request])
    return [("/".join(i.namespace), i.key) for i in items_in(items)]


def test_our_stores_commit_natively(store_kind: str, any_store: BaseStore) -> None:
    assert (port_for(any_store) is any_store) == (store_kind != "memory")
    assert isinstance(any_store, NativeStore) == (store_kind != "memory")


def test_a_commit_without_expectations_writes_everything(port: MemoryStorePort) -> None:
    result = port.commit(
        [], [PutOp(ALICE, "a", memory("likes tea")), PutOp(ALICE, "b", memory("has a cat"))]
    )
    assert result == CommitResult(True) and result
    assert read(port, ALICE, "a") is not None and read(port, ALICE, "b") is not None


def test_two_memories_with_the_same_value_commit_together(port: MemoryStorePort) -> None:
    same = memory("lives in Porto")
    assert port.commit([], [PutOp(ALICE, "a", same), PutOp(ALICE, "b", same)])
    assert search(port, NamespaceSearch(ALICE, query="Porto")) == [
        ("memories/alice", "a"),
        ("memories/alice", "b"),
    ]


def test_a_failed_expectation_writes_nothing(port: MemoryStorePort) -> None:
    port.commit([], [PutOp(ALICE, "a", memory("likes tea"))])
    stale = Expectation(ALICE, "a", memory("likes coffee"))  # not what is stored
    absent = Expectation(ALICE, "a", None)  # it is there
    for wrong in (stale, absent):
        result = port.commit(
            [wrong], [PutOp(ALICE, "a", memory("likes green tea")), PutOp(ALICE, "c", memory("x"))]
        )
        assert not result and result.conflicts == (wrong,)
    item = read(port, ALICE, "a")
    assert item is not None and item.value == memory("likes tea")
    assert read(port, ALICE, "c") is None


def test_an_expectation_read_from_the_store_holds_until_someone_writes(
    port: MemoryStorePort,
) -> None:
    port.commit([], [PutOp(ALICE, "a", memory("likes tea"))])
    seen = read(port, ALICE, "a")
    assert port.commit([Expectation.of(seen)], [PutOp(ALICE, "a", memory("likes green tea"))])
    # The same read is now out of date, also when the value is written back unchanged.
    assert not port.commit([Expectation.of(seen)], [PutOp(ALICE, "a", memory("likes mint tea"))])
    item = read(port, ALICE, "a")
    assert item is not None and item.value == memory("likes green tea")


def test_a_delete_may_find_the_item_already_gone(port: MemoryStorePort) -> None:
    port.commit([], [PutOp(ALICE, "a", memory("likes tea"))])
    seen = read(port, ALICE, "a")
    assert seen is not None
    assert port.commit([], [PutOp(ALICE, "a", None)])
    assert port.commit([Expectation.of(seen, may_vanish=True)], [PutOp(ALICE, "a", None)])
    assert not port.commit([Expectation.of(seen)], [PutOp(ALICE, "a", None)])


def test_restored_items_keep_their_timestamps_where_the_store_can(
    store_kind: str, port: MemoryStorePort
) -> None:
    created = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
    updated = created + timedelta(days=3)
    item = Item(value=memory("moved to Porto"), key="k", namespace=ALICE, created_at=created,
                updated_at=updated)  # fmt: skip
    result = port.commit([], [RestoredItem(item)])
    assert result.committed
    stored = read(port, ALICE, "k")
    assert stored is not None and stored.value == memory("moved to Porto")
    if store_kind == "memory":  # no public way to set InMemoryStore's timestamps
        assert not result.kept_timestamps
    else:
        assert result.kept_timestamps
        assert (stored.created_at, stored.updated_at) == (created, updated)
    assert search(port, NamespaceSearch(ALICE, query="Porto")) == [("memories/alice", "k")]


def test_searches_stay_in_the_namespace_unless_descendants_are_asked_for(
    port: MemoryStorePort,
) -> None:
    team = (*ALICE, "team")
    writes = [PutOp(team, f"t{i}", memory(f"team note {i} about Porto")) for i in range(30)]
    writes += [PutOp(ALICE, f"a{i}", memory(f"alice note {i} about Porto")) for i in range(3)]
    writes.append(PutOp(("memories", "alice2"), "x", memory("not alice, about Porto")))
    assert port.commit([], writes)
    for query in (None, "Porto"):
        own = search(port, NamespaceSearch(ALICE, query=query, limit=10))
        assert sorted(own) == [("memories/alice", f"a{i}") for i in range(3)]
        page = search(port, NamespaceSearch(ALICE, query=query, limit=2, offset=1))
        assert len(page) == 2 and set(page) <= set(own)
        everything = search(port, NamespaceSearch(ALICE, query=query, limit=100, descendants=True))
        assert len(everything) == 33 and ("memories/alice2", "x") not in everything
    filtered = search(port, NamespaceSearch(ALICE, filter={"kind": "Memory"}, limit=5))
    assert len(filtered) == 3


def test_a_search_ranks_also_namespaces_with_its_own_under_their_own_filter(
    port: MemoryStorePort,
) -> None:
    writes = [
        PutOp(ALICE, f"a{i}", {**memory(f"alice note {i} about Porto"), "n": i}) for i in range(4)
    ]
    writes += [
        PutOp(BOB, f"b{i}", {**memory(f"bob note {i} about Porto"), "n": i}) for i in range(4)
    ]
    writes.append(PutOp((*BOB, "deeper"), "d", {**memory("deeper, about Porto"), "n": 1}))
    assert port.commit([], writes)
    also = (AlsoSearched(BOB, {"n": {"$gte": 2}}),)
    for query in (None, "Porto"):
        found = search(
            port, NamespaceSearch(ALICE, query=query, filter={"n": 1}, limit=10, also=also)
        )
        assert sorted(found) == [
            ("memories/alice", "a1"),
            ("memories/bob", "b2"),
            ("memories/bob", "b3"),
        ]
        page = search(port, NamespaceSearch(ALICE, query=query, limit=2, offset=1, also=also))
        assert len(page) == 2


def test_concurrent_read_modify_commits_lose_no_update(port: MemoryStorePort) -> None:
    port.commit([], [PutOp(ALICE, "counter", {"n": 0})])

    def add_one() -> None:
        while True:
            seen = read(port, ALICE, "counter")
            assert seen is not None
            bumped = {"n": seen.value["n"] + 1}
            if port.commit([Expectation.of(seen)], [PutOp(ALICE, "counter", bumped)]):
                return

    threads = [threading.Thread(target=add_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    item = read(port, ALICE, "counter")
    assert item is not None and item.value == {"n": 8}


async def test_async_commits_and_searches(port: MemoryStorePort) -> None:
    result = await port.acommit([Expectation(BOB, "k", None)], [PutOp(BOB, "k", memory("a"))])
    assert result.committed
    assert not await port.acommit([Expectation(BOB, "k", None)], [PutOp(BOB, "k", memory("b"))])
    (items,) = await port.abatch([NamespaceSearch(BOB, query="a")])
    assert [i.key for i in items_in(items)] == ["k"]


class GatedEmbeddings(Embeddings):
    """Hashing embeddings that hold any text containing 'slow' until released."""

    def __init__(self) -> None:
        self.inner = HashingEmbeddings()
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if any("slow" in t for t in texts):
            self.entered.set()
            assert self.release.wait(timeout=60), "the slow embedding was never released"
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture
def gated(store_kind: str, tmp_path: Path) -> Iterator[tuple[MemoryStorePort, GatedEmbeddings]]:
    embeddings = GatedEmbeddings()
    index: IndexConfig = {**hashing_index(), "embed": embeddings}
    with FACTORIES[store_kind](tmp_path, index) as store:
        try:
            yield port_for(store), embeddings
        finally:
            embeddings.release.set()


def test_a_commit_waiting_on_a_slow_embedder_does_not_delay_another_user(
    gated: tuple[MemoryStorePort, GatedEmbeddings],
) -> None:
    port, embeddings = gated
    slow_done = threading.Event()

    def slow_commit() -> None:
        port.commit([Expectation(ALICE, "k", None)], [PutOp(ALICE, "k", memory("slow fact"))])
        slow_done.set()

    slow = threading.Thread(target=slow_commit)
    slow.start()
    try:
        assert embeddings.entered.wait(timeout=30)
        finished = threading.Event()

        def fast_commit() -> None:
            port.commit([Expectation(BOB, "k", None)], [PutOp(BOB, "k", memory("quick fact"))])
            finished.set()

        fast = threading.Thread(target=fast_commit)
        fast.start()
        # Bob's commit completes while Alice's is still waiting for its embedding.
        assert finished.wait(timeout=30), "Bob's commit waited for Alice's embedding"
        assert not slow_done.is_set()
        assert read(port, BOB, "k") is not None and read(port, ALICE, "k") is None
    finally:
        embeddings.release.set()
        slow.join(timeout=30)
    assert slow_done.is_set() and read(port, ALICE, "k") is not None


def test_a_commit_with_a_bad_write_is_refused_before_anything_is_written(
    port: MemoryStorePort,
) -> None:
    with pytest.raises(Exception, match="PutOp or RestoredItem"):
        port.commit([], [PutOp(ALICE, "a", memory("x")), GetOp(ALICE, "a")])  # type: ignore[list-item]  # deliberately wrong type
    assert read(port, ALICE, "a") is None


def test_the_adapter_is_shared_per_store_object() -> None:
    from langgraph.store.memory import InMemoryStore

    store = InMemoryStore()
    assert port_for(store) is port_for(store)
    assert port_for(store) is not port_for(InMemoryStore())


def test_async_adapter_locks_do_not_block_the_event_loop() -> None:
    from langgraph.store.memory import InMemoryStore

    port = port_for(InMemoryStore())

    async def scenario() -> list[bool]:
        results = await asyncio.gather(
            *(
                port.acommit([Expectation(ALICE, "k", None)], [PutOp(ALICE, "k", {"n": i})])
                for i in range(10)
            )
        )
        return [r.committed for r in results]

    assert sorted(asyncio.run(scenario())) == [False] * 9 + [True]
