"""The storage port's own methods (``tally``, ``commit``, ``NamespaceSearch.also``) given ids no
write could have made (a lone surrogate, a NUL, a label that is not a string), on every
backend: such a namespace holds nothing, such an item is absent and deleting it changes
nothing, writing it is refused with a typed error, and whatever else the call asks for, and
everything already stored, is kept. ``memory`` (InMemoryStore through the adapter) is the
reference the stores agree with.

A lone surrogate is what Python makes of bytes that are not UTF-8 in a command-line argument
(``reverie stats --namespace``), so it reaches the stores from the CLI too."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import BaseStore, Item, PutOp, Result

from reverie.core.errors import InputError, NamespaceError
from reverie.core.ports import AlsoSearched, Expectation, MemoryStorePort, NamespaceSearch
from reverie.ledger import port_for

NS = ("notes", "u1")
OTHER = ("notes", "u2")
SURROGATE = "\ud800"  # neither SQLite nor psycopg can encode it

# (namespace, key) pairs no write could have made, keyed by what is wrong with them.
UNWRITABLE_ITEMS: dict[str, tuple[tuple[Any, ...], Any]] = {
    "surrogate key": (NS, f"k{SURROGATE}"),
    "surrogate label": (("notes", f"u{SURROGATE}"), "k"),
    "NUL key": (NS, "k\x00"),
}
UNWRITABLE_NAMESPACES: dict[str, tuple[Any, ...]] = {
    "surrogate label": ("notes", f"u{SURROGATE}"),
    "NUL label": ("notes", "u\x00"),
    "label not a string": ("notes", 1),
}


@pytest.fixture
def port(any_store: BaseStore) -> MemoryStorePort:
    port = port_for(any_store)
    writes = [
        PutOp(NS, "kept", {"kind": "Memory", "text": "lives in Porto"}),
        PutOp(NS, "e1", {"kind": "Episode", "text": "said hello"}),
        PutOp(OTHER, "kept", {"kind": "Memory", "text": "lives in Oslo"}),
    ]
    assert port.commit([], writes)
    return port


def found(result: Result) -> list[tuple[tuple[str, ...], str]]:
    """(namespace, key) of each item a search found, in its order."""
    assert isinstance(result, list)
    return [(tuple(i.namespace), i.key) for i in result if isinstance(i, Item)]


def stored(store: BaseStore) -> dict[tuple[tuple[str, ...], str], Any]:
    return {
        (tuple(item.namespace), item.key): item.value
        for namespace in (NS, OTHER)
        for item in store.search(namespace, limit=100)
    }


@pytest.mark.parametrize("bad", UNWRITABLE_NAMESPACES.values(), ids=UNWRITABLE_NAMESPACES)
async def test_tally_leaves_out_a_namespace_no_write_could_make(
    port: MemoryStorePort, bad: tuple[Any, ...]
) -> None:
    # Before: both stores raised UnicodeEncodeError for a lone surrogate (PostgreSQL a
    # NamespaceError for a NUL, the embedded store a TypeError for a label that is not a
    # string), so `reverie stats` of such a namespace failed instead of counting nothing.
    asked = [OTHER, bad, NS, (bad[1],)]
    for tallies in (port.tally(asked), await port.atally(asked)):
        assert [(t.namespace, dict(t.kinds)) for t in tallies] == [
            (OTHER, {"Memory": 1}),
            (NS, {"Memory": 1, "Episode": 1}),
        ]
    assert port.tally([bad]) == []


@pytest.mark.parametrize("target", UNWRITABLE_ITEMS.values(), ids=UNWRITABLE_ITEMS)
async def test_a_commit_finds_an_unwritable_item_absent(
    any_store: BaseStore, port: MemoryStorePort, target: tuple[tuple[Any, ...], Any]
) -> None:
    # Before: the embedded store raised UnicodeEncodeError for a lone surrogate, where
    # PostgreSQL (and InMemoryStore) find the item absent.
    namespace, key = target
    before = stored(any_store)
    absent = Expectation(namespace, key, None)
    assert port.commit([absent], [PutOp(NS, "new", {"text": "written"})])
    vanished = Expectation(namespace, key, {"text": "was here"}, may_vanish=True)
    assert await port.acommit([vanished], [PutOp(NS, "new2", {"text": "written"})])
    # An expectation that the item is there fails: nothing of the commit is written.
    present = Expectation(namespace, key, {"text": "was here"})
    result = port.commit([present], [PutOp(NS, "kept", None), PutOp(NS, "lost", {"text": "x"})])
    assert not result.committed and result.conflicts == (present,)
    assert stored(any_store) == {
        **before,
        (NS, "new"): {"text": "written"},
        (NS, "new2"): {"text": "written"},
    }


@pytest.mark.parametrize("target", UNWRITABLE_ITEMS.values(), ids=UNWRITABLE_ITEMS)
async def test_a_commit_deleting_an_unwritable_item_goes_ahead_and_writing_one_is_refused(
    any_store: BaseStore, port: MemoryStorePort, target: tuple[tuple[Any, ...], Any]
) -> None:
    namespace, key = target
    before = stored(any_store)
    # Deleting it deletes nothing; the rest of the commit is applied.
    writes = [PutOp(namespace, key, None), PutOp(NS, "e1", None), PutOp(NS, "new", {"text": "n"})]
    assert port.commit([], writes)
    assert await port.acommit([], [PutOp(namespace, key, None)])
    after = {k: v for k, v in before.items() if k != (NS, "e1")}
    assert stored(any_store) == {**after, (NS, "new"): {"text": "n"}}
    # Writing it is refused, saying what to do, and the commit writes nothing.
    with pytest.raises((InputError, NamespaceError), match="pass one without it"):
        port.commit([], [PutOp(NS, "kept", None), PutOp(namespace, key, {"text": "x"})])
    assert stored(any_store) == {**after, (NS, "new"): {"text": "n"}}


async def test_a_search_also_ranking_an_unwritable_namespace_adds_nothing(
    port: MemoryStorePort,
) -> None:
    # Before: the embedded store raised UnicodeEncodeError for a lone surrogate.
    alone = NamespaceSearch(NS, query="lives in Porto", limit=5)
    joint = alone._replace(also=(AlsoSearched(("notes", f"u{SURROGATE}")),))
    expected = found(port.batch([alone])[0])
    assert (NS, "kept") in expected
    for results in (port.batch([joint]), await port.abatch([joint])):
        assert found(results[0]) == expected


def test_a_search_also_ranking_a_dotted_label_never_reads_another_namespace(
    store_kind: str, port: MemoryStorePort
) -> None:
    # Before: the embedded store read ('notes.u2',) as ('notes', 'u2'), the dotted path it is
    # stored under, and returned u2's items to a search that named no such namespace.
    joint = NamespaceSearch(NS, limit=10, also=(AlsoSearched(("notes.u2",)),))
    if store_kind == "memory":  # InMemoryStore keeps labels apart: it simply finds nothing
        assert sorted(found(port.batch([joint])[0])) == [(NS, "e1"), (NS, "kept")]
        return
    with pytest.raises(NamespaceError, match="'.'"):
        port.batch([joint])


async def test_the_empty_namespace_holds_nothing_and_no_put_can_write_there(
    any_store: BaseStore, store_kind: str, port: MemoryStorePort
) -> None:
    # Before: PostgreSQL read NamespaceSearch(()) as "every namespace" and returned every
    # user's items; with also=(()) it returned them twice.
    exact = NamespaceSearch((), limit=10)
    joint = NamespaceSearch(NS, limit=10, also=(AlsoSearched(()),))
    for results in (port.batch([exact, joint]), await port.abatch([exact, joint])):
        assert found(results[0]) == []
        assert sorted(found(results[1])) == [(NS, "e1"), (NS, "kept")]
    if store_kind == "memory":  # InMemoryStore's batch takes a put at (); the stores do not
        return
    before = stored(any_store)
    # Before: PostgreSQL stored it under the prefix '', which reads back as ('',).
    with pytest.raises(InputError, match="at least one label"):
        port.commit([], [PutOp(NS, "new", {"text": "n"}), PutOp((), "k", {"text": "x"})])
    with pytest.raises(InputError, match="at least one label"):
        any_store.batch([PutOp((), "k", {"text": "x"})])
    assert stored(any_store) == before
