"""A value whose text holds one long "word" (base64, a hash) is stored and found by that word,
in both stores; PostgreSQL's keyword index (a B-tree, about 2.7 KB a row) could not hold it
whole, nor open a LangGraph-written database holding one."""

from __future__ import annotations

import random
import string
from pathlib import Path

import psycopg
import pytest
from langgraph.store.postgres import PostgresStore

from reverie.retrieval.terms import MAX_WORD, terms
from reverie.stores.postgres import open_postgres_store
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database
from tests.store_factories import FACTORIES

NS = ("docs", "u1")
OTHERS = ["an ordinary note", "tea at noon", "the attachment is below", "bring the charger"]


def long_word(length: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def test_a_long_word_has_a_short_term_of_its_own() -> None:
    word = long_word(4000)
    found = terms(f"attachment {word} attached")
    assert len(found) == 3 and all(len(t) <= MAX_WORD for t in found)
    assert terms(word.upper()) == [found[1]]  # a query for the word finds it
    # Words sharing a long start still differ.
    assert terms(word[:-1] + "x") != [found[1]]
    assert terms(long_word(MAX_WORD)) == [long_word(MAX_WORD).lower()]


@pytest.mark.parametrize("kind", ["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_value_with_a_4000_character_word_is_stored_and_found(kind: str, tmp_path: Path) -> None:
    word = long_word(4000)
    with FACTORIES[kind](tmp_path, hashing_index(fields=["text"])) as store:
        for n, text in enumerate(OTHERS):
            store.put(NS, f"n{n}", {"text": text})
        store.put(NS, "a1", {"text": f"attachment {word}"})
        stored = store.get(NS, "a1")
        assert stored is not None and stored.value["text"] == f"attachment {word}"
        assert store.search(NS, query=word, limit=1)[0].key == "a1"


@pytest.mark.postgres
def test_a_langgraph_database_holding_a_long_word_opens() -> None:
    word = long_word(4000)
    with fresh_database() as url:
        with PostgresStore.from_conn_string(url) as langgraph:
            langgraph.setup()
            langgraph.put(NS, "a1", {"text": f"attachment {word}"})
            for n, text in enumerate(OTHERS):
                langgraph.put(NS, f"n{n}", {"text": text})
        with open_postgres_store(url, index=hashing_index(fields=["text"])) as store:
            assert store.search(NS, query=word, limit=1)[0].key == "a1"


def longest_term(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(length(term)) FROM reverie_terms").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
def test_words_indexed_whole_before_are_indexed_again() -> None:
    """A database written by a release that kept long words whole (up to the index's limit)
    gets its items' terms rebuilt on open, so a query for such a word finds them again."""
    word = long_word(300)
    index = hashing_index(fields=["text"])
    with fresh_database() as url:
        with open_postgres_store(url, index=index) as store:
            store.put(NS, "a1", {"text": f"attachment {word}"})
            for n, text in enumerate(OTHERS):
                store.put(NS, f"n{n}", {"text": text})
        with psycopg.connect(url) as conn:  # as that release left it
            conn.execute(
                "UPDATE reverie_terms SET term = %s WHERE key = 'a1' AND term = %s",
                [word.lower(), terms(word)[0]],
            )
            conn.execute("DELETE FROM reverie_migrations WHERE name = 'reverie_terms_long_words'")
        assert longest_term(url) == 300
        with open_postgres_store(url, index=index) as store:
            assert longest_term(url) <= MAX_WORD
            assert store.search(NS, query=word, limit=1)[0].key == "a1"
        with psycopg.connect(url) as conn:
            docs = conn.execute("SELECT count(*) FROM reverie_keyword_docs").fetchone()
            done = conn.execute(
                "SELECT count(*) FROM reverie_migrations WHERE name = 'reverie_keyword_backfill'"
            ).fetchone()
        assert docs == (len(OTHERS) + 1,) and done == (1,)
