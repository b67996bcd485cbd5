"""Reads and deletes of ids no write could have made (a NUL, a lone surrogate) find nothing and
leave the rest of their batch alone, as in the embedded store, instead of failing it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp

from reverie.core.errors import InputError
from reverie.core.ports import Expectation, NamespaceSearch
from reverie.ledger import port_for
from reverie.stores.postgres.runner import translated
from reverie.testing import hashing_index
from tests.store_factories import FACTORIES

pytestmark = pytest.mark.postgres
NS = ("notes", "u1")
KINDS = ["postgres", "postgres_async", "embedded"]


@pytest.mark.parametrize("kind", KINDS)
def test_unwritable_ids_find_nothing_and_the_batch_still_writes(kind: str, tmp_path: Path) -> None:
    with FACTORIES[kind](tmp_path, hashing_index(fields=["text"])) as store:
        port = port_for(store)
        results = port.batch(
            [
                PutOp(NS, "ok", {"text": "a note worth keeping"}),
                GetOp(NS, "a\x00b"),
                GetOp(NS, "a\ud800"),
                GetOp(("notes", "u\ud800"), "ok"),
                PutOp(NS, "gone\x00", None),
                PutOp(("notes", "u\ud800"), "ok", None),
                SearchOp(("notes", "u\ud800"), query="note"),
                NamespaceSearch(("notes", "u\ud800"), query="note"),
                ListNamespacesOp((MatchCondition("prefix", ("notes\ud800",)),)),
                ListNamespacesOp((MatchCondition("suffix", ("u\ud800",)),)),
            ]
        )
        assert results == [None, None, None, None, None, None, [], [], [], []]
        kept = store.get(NS, "ok")
        assert kept is not None and kept.value == {"text": "a note worth keeping"}
        # The same through LangGraph's own methods.
        assert store.get(NS, "a\x00b") is None
        store.delete(NS, "a\x00b")
        assert store.list_namespaces(prefix=("notes\ud800",)) == []
        assert store.search(("notes", "u\ud800"), query="note") == []
        assert [item.key for item in store.search(NS, query="note")] == ["ok"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_commit_expecting_or_deleting_an_unwritable_id_goes_ahead(
    kind: str, tmp_path: Path
) -> None:
    with FACTORIES[kind](tmp_path, None) as store:
        result = port_for(store).commit(
            [Expectation(NS, "a\x00b", None), Expectation(("notes", "u\ud800"), "k", None)],
            [PutOp(NS, "ok", {"text": "written"}), PutOp(NS, "gone\x00", None)],
        )
        assert result.committed
        kept = store.get(NS, "ok")
        assert kept is not None and kept.value == {"text": "written"}


def test_text_psycopg_refuses_before_sending_is_an_input_error() -> None:
    refused = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    error = translated(refused, "postgresql://db")
    assert isinstance(error, InputError)
    assert "Remove NUL characters" in str(error)
    assert "permissions" not in str(error)
