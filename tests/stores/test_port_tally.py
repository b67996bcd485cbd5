"""``port.tally``: the live items of each namespace counted per kind, on every backend, without
reading the items back (what ``reverie stats`` shows)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langgraph.store.base import BaseStore, Item, PutOp

from reverie.core.ports import MemoryStorePort, NamespaceSearch, NamespaceTally
from reverie.ledger import port_for

ALICE = ("memories", "alice")
TEAM = (*ALICE, "team")
BOB = ("memories", "bob")
CAROL = ("memories", "carol")


def value(kind: Any, text: str) -> dict[str, Any]:
    return {"kind": kind, "content": {"content": text}}


def seen(tallies: list[NamespaceTally]) -> list[tuple[tuple[str, ...], list[tuple[Any, int]]]]:
    return [(t.namespace, list(t.kinds.items())) for t in tallies]


@pytest.fixture
def port(any_store: BaseStore) -> MemoryStorePort:
    port = port_for(any_store)
    writes = [
        PutOp(ALICE, "e1", value("Episode", "first turn")),
        PutOp(ALICE, "m1", value("Memory", "lives in Porto")),
        PutOp(ALICE, "n1", {"content": "no kind at all"}),
        PutOp(ALICE, "e2", value("Episode", "second turn")),
        PutOp(ALICE, "x1", value(7, "a kind that is not a string")),
        PutOp(ALICE, "m2", value("Memory", "has a cat")),
        PutOp(TEAM, "t1", value("Memory", "team note")),
        PutOp(BOB, "m1", value("Memory", "lives in Oslo")),
    ]
    assert port.commit([], writes)
    return port


def newest_of(port: MemoryStorePort, namespace: tuple[str, ...]) -> Any:
    (found,) = port.batch([NamespaceSearch(namespace, limit=100)])
    assert isinstance(found, list)
    return max(item.updated_at for item in found if isinstance(item, Item))


def test_tally_counts_each_namespace_per_kind(port: MemoryStorePort) -> None:
    tallies = port.tally([BOB, ALICE, CAROL, TEAM])
    # In the order asked, empty namespaces left out, kinds in the order they first appear, the
    # namespaces below one not counted in it.
    assert seen(tallies) == [
        (BOB, [("Memory", 1)]),
        (ALICE, [("Episode", 2), ("Memory", 2), (None, 2)]),
        (TEAM, [("Memory", 1)]),
    ]
    assert [t.items for t in tallies] == [1, 6, 1]
    assert [t.newest for t in tallies] == [newest_of(port, ns) for ns in (BOB, ALICE, TEAM)]
    assert port.tally([]) == []


async def test_atally_counts_the_same(port: MemoryStorePort) -> None:
    assert seen(await port.atally([ALICE, BOB])) == seen(port.tally([ALICE, BOB]))


def test_changes_show_in_the_next_tally_and_expired_items_are_not_counted(
    any_store: BaseStore, port: MemoryStorePort
) -> None:
    assert port.commit([], [PutOp(BOB, "m1", None), PutOp(BOB, "e1", value("Episode", "hi"))])
    assert seen(port.tally([BOB])) == [(BOB, [("Episode", 1)])]
    if not any_store.supports_ttl:
        return
    any_store.put(BOB, "brief", value("Memory", "gone soon"), ttl=1 / 60)
    assert seen(port.tally([BOB])) == [(BOB, [("Episode", 1), ("Memory", 1)])]
    time.sleep(1.3)
    assert seen(port.tally([BOB])) == [(BOB, [("Episode", 1)])]
