"""What a hybrid search embeds for its query: the query less the words most of the searched
memories contain (``reverie.retrieval.query_text``), the same text on both stores, and the
score still the cosine to the vector searched with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, PutOp, SearchItem

from reverie import RankingOptions
from reverie.core.ports import NamespaceSearch
from reverie.ledger import port_for
from reverie.retrieval.query_text import MIN_MEMORIES, vector_text
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import HashingEmbeddings
from tests.store_factories import FACTORIES

NS = ("chat", "u1")
TOPICS = ["pottery", "camping", "painting", "running", "swimming", "music", "cooking", "reading"]
KIDS = ["", " with my kids"]  # in half of the memories
QUESTION = "What does Melanie like about pottery?"
WITHOUT_NAME = "What does like about pottery?"


class RecordingEmbeddings(Embeddings):
    """Hashing vectors; remembers every query text it was asked to embed."""

    def __init__(self) -> None:
        self.inner = HashingEmbeddings(64)
        self.queries: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self.inner.embed_query(text)


def cosine(query: str, text: str) -> float:
    embedder = HashingEmbeddings(64)
    q, d = np.asarray(embedder.embed_query(query)), np.asarray(embedder.embed_documents([text])[0])
    return float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d)))


def chat(turns: int) -> list[PutOp]:
    """``turns`` memories, every one naming Melanie (as every line of a chat with her does)."""
    return [
        PutOp(NS, f"t{n}", {"text": f"Melanie: I went {TOPICS[n % len(TOPICS)]}{KIDS[n % 2]}"})
        for n in range(turns)
    ]


@contextlib.contextmanager
def chat_store(
    backend: str, tmp_path: Path, turns: int
) -> Iterator[tuple[BaseStore, RecordingEmbeddings]]:
    """A ``backend`` store holding ``chat(turns)``, and its embedder with no query recorded."""
    embedder = RecordingEmbeddings()
    index = {"dims": 64, "embed": embedder, "fields": ["text"]}
    with FACTORIES[backend](tmp_path, index) as store:  # type: ignore[arg-type]
        store.batch(chat(turns))
        embedder.queries.clear()
        yield store, embedder


def search(store: BaseStore, query: str, **options: Any) -> list[SearchItem]:
    (found,) = port_for(store).batch([NamespaceSearch(NS, query=query, limit=5, **options)])
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("backend", ["embedded", "postgres", "postgres_async"])
def test_a_word_most_memories_share_is_left_out_of_the_querys_vector(
    backend: str, tmp_path: Path
) -> None:
    with chat_store(backend, tmp_path, MIN_MEMORIES + 10) as (store, embedder):
        found = search(store, QUESTION)
        assert embedder.queries == [WITHOUT_NAME]
        # The scores are the cosines to the vector searched with, so thresholds keep working.
        for item in found:
            assert item.score == pytest.approx(cosine(WITHOUT_NAME, item.value["text"]), abs=1e-6)
        assert all("pottery" in item.value["text"] for item in found[:3])
        # A prefix search (this namespace and those below it) counts the same memories.
        embedder.queries.clear()
        store.search(NS[:1], query=QUESTION)
        assert embedder.queries == [WITHOUT_NAME]

        # Ranked by vectors alone, the whole question is embedded: no keyword ranking would
        # see the word left out. And the option turns it off.
        embedder.queries.clear()
        search(store, QUESTION, ranking=RankingOptions.vector_only())
        search(store, QUESTION, ranking=RankingOptions.plain())
        search(store, QUESTION, ranking=RankingOptions(common_word_share=None))
        assert embedder.queries == [QUESTION, QUESTION, QUESTION]
        # A lower share leaves out a word in half the memories, which the default keeps.
        embedder.queries.clear()
        search(store, "Melanie kids pottery")
        search(store, "Melanie kids pottery", ranking=RankingOptions(common_word_share=0.4))
        assert embedder.queries == ["kids pottery", "pottery"]


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
def test_a_few_memories_say_too_little_and_the_query_is_embedded_whole(
    backend: str, tmp_path: Path
) -> None:
    with chat_store(backend, tmp_path, MIN_MEMORIES - 1) as (store, embedder):
        search(store, QUESTION)
        assert embedder.queries == [QUESTION]


async def test_the_embedded_stores_async_search_embeds_the_same_text(tmp_path: Path) -> None:
    embedder = RecordingEmbeddings()
    with EmbeddedStore(tmp_path / "m.db", index={"dims": 64, "embed": embedder}) as store:
        await asyncio.to_thread(store.batch, chat(MIN_MEMORIES + 10))
        embedder.queries.clear()
        await store.asearch(NS, query=QUESTION)
        assert embedder.queries == [WITHOUT_NAME]


def test_the_text_left_to_embed() -> None:
    counts = {"melani": 90, "2023": 70, "potteri": 10}
    assert vector_text(QUESTION, counts, 100, 0.6) == WITHOUT_NAME
    # A possessive goes with its name; a word found in fewer memories stays.
    assert vector_text("Did Melanie's pottery class start in 2023?", counts, 100, 0.6) == (
        "Did pottery class start in?"
    )
    assert vector_text("Did Melanie's pottery class start?", counts, 160, 0.6) == (
        "Did Melanie's pottery class start?"
    )
    # Nothing informative would be left: the query stays whole.
    assert vector_text("Melanie?", counts, 100, 0.6) == "Melanie?"
    assert vector_text("What did Melanie do?", counts, 100, 0.6) == "What did Melanie do?"
    # Too few memories to tell a common word from a frequent one.
    assert vector_text(QUESTION, {"melani": 40}, MIN_MEMORIES - 1, 0.6) == QUESTION
    # A share of None leaves every word in.
    assert vector_text(QUESTION, counts, 100, None) == QUESTION
