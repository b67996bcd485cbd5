"""Reads the embedded store must answer as InMemoryStore does, whatever they name, and a
second store object on the same file that must never see one user's items under another's
namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from reverie.stores.embedded import EmbeddedStore, SearchMode
from tests.stores.embedded_helpers import indexed

SURROGATE = "\ud800"  # a lone surrogate: no write can hold it, and SQLite cannot encode it


@pytest.mark.parametrize("bad", [SURROGATE, "a\x00b"])
def test_reads_of_a_key_no_write_could_make_find_nothing(tmp_path: Path, bad: str) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        reference = InMemoryStore()
        for target in (store, reference):
            target.put(("u",), "kept", {"text": "kept"})
            assert target.get(("u",), bad) is None
            target.delete(("u",), bad)
            assert target.get(("u",), "kept") is not None
        # The rest of a batch runs: a put beside such a read is written.
        results = store.batch(
            [GetOp(("u",), bad), PutOp(("u",), "new", {"text": "new"}), PutOp(("u",), bad, None)]
        )
        assert results == [None, None, None]
        assert store.get(("u",), "new") is not None


def test_reads_under_a_label_no_write_could_make_find_nothing(tmp_path: Path) -> None:
    # (A NUL in a label is refused by LangGraph's own checks, on InMemoryStore too.)
    bad = SURROGATE
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        reference = InMemoryStore()
        for target in (store, reference):
            target.put(("u",), "kept", {"text": "kept"})
        for target in (store, reference):
            # First: InMemoryStore lists a namespace once a read has named it.
            assert target.list_namespaces(prefix=(bad,)) == []
            assert target.get((bad,), "k") is None
            assert target.search((bad,)) == []
            assert target.search((bad,), query="kept") == []
        results = store.batch(
            [
                SearchOp((bad,), query="new"),
                PutOp(("u",), "new", {"text": "new"}),
                ListNamespacesOp(match_conditions=(MatchCondition("suffix", (bad,)),)),
            ]
        )
        assert results == [[], None, []]
        assert store.get(("u",), "new") is not None


def test_a_second_store_on_the_file_never_returns_an_erased_users_items(tmp_path: Path) -> None:
    # Store A caches xavier's namespace; B erases xavier, then creates yara's and writes a
    # note for wendy. Before, SQLite gave yara xavier's old namespace id, its write counter
    # restarted at the value A had cached, and A served xavier's cached index for yara: one
    # search of yara's namespace returned wendy's note.
    path = tmp_path / "shared.db"
    with (
        EmbeddedStore(path, index=indexed()) as a,
        EmbeddedStore(path, index=indexed()) as b,
    ):
        b.put(("users", "wendy"), "w0", {"text": "wendy's first note"})
        # xavier is written in one batch and erased in one: one write each, as yara's below.
        b.batch(
            [
                PutOp(("users", "xavier"), "x1", {"text": "xavier one"}),
                PutOp(("users", "xavier"), "x2", {"text": "xavier two"}),
            ]
        )
        modes: tuple[SearchMode, ...] = ("vector", "hybrid")
        for mode in modes:
            a.search_mode = mode
            assert {i.key for i in a.search(("users", "xavier"), query="xavier one")} == {
                "x1",
                "x2",
            }
        b.batch([PutOp(("users", "xavier"), "x1", None), PutOp(("users", "xavier"), "x2", None)])
        b.put(("users", "yara"), "y1", {"text": "yara likes tea"})
        b.put(("users", "wendy"), "w-secret", {"text": "wendy password hunter2"})
        for mode in (*modes, "keyword"):
            a.search_mode = mode
            found = a.search(("users", "yara"), query="xavier one")
            assert [(i.namespace, i.key) for i in found] == [(("users", "yara"), "y1")], mode
            assert found[0].score is None or found[0].score < 0.99  # yara's own vector
        assert [i.key for i in a.search(("users", "yara"))] == ["y1"]


def test_a_filter_on_a_key_holding_a_control_character_matches(tmp_path: Path) -> None:
    value = {"line\tno": 7, "text": "a line"}
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        reference = InMemoryStore()
        for target in (store, reference):
            target.put(("u",), "k1", value)
            target.put(("u",), "k2", {"line\tno": 8, "text": "another"})
        for target in (store, reference):
            assert [i.key for i in target.search(("u",), filter={"line\tno": 7})] == ["k1"]
            assert [i.key for i in target.search(("u",), filter={"new\nline": 1})] == []
        found = store.search(("u",), query="a line", filter={"line\tno": 7})
        assert [i.key for i in found] == ["k1"]
