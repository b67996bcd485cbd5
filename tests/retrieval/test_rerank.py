"""Rerankers through the one search pipeline, sync and async, with a scripted model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langgraph.store.base import SearchItem

from reverie import CompressorReranker, LLMReranker, ScoreReranker
from reverie.core.effects import arun, run
from reverie.core.errors import InputError
from reverie.ledger import port_for
from reverie.ledger.search import SearchOptions, search_memories
from reverie.ledger.time_search import TimeQuery, search_in_time
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import ScriptedChatModel, hashing_index

NS = ("memories", "u1")
TEXTS = ["the cat sleeps", "the dog barks at night", "a cat and a dog play", "tea at noon"]


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "m.db", index=hashing_index(fields=["content.content"]))
    for n, text in enumerate(TEXTS):
        store.put(NS, f"m{n}", {"kind": "Memory", "content": {"content": text}})
    return store


def keys(items: list[SearchItem]) -> list[str]:
    return [i.key for i in items]


def test_llm_reranker_orders_by_the_models_list(store: EmbeddedStore) -> None:
    plain = run(search_memories(port_for(store), NS, query="cat dog", limit=4))
    model = ScriptedChatModel(replies=["4, 2, 2, 9"])  # a repeat and an unknown number
    options = SearchOptions(rerank=LLMReranker(model))
    found = run(search_memories(port_for(store), NS, query="cat dog", limit=3, options=options))
    expected = [plain[3].key, plain[1].key, plain[0].key]  # listed first, then in order
    assert keys(found) == expected
    prompt = model.calls[0].request.text
    assert "cat dog" in prompt and all(text in prompt for text in TEXTS)
    # Scores stay the cosines the store reported.
    by_key = {i.key: i.score for i in plain}
    assert [i.score for i in found] == [by_key[k] for k in expected]


async def test_llm_reranker_async_is_the_same_pipeline(store: EmbeddedStore) -> None:
    model = ScriptedChatModel(replies=["3 1"])
    options = SearchOptions(rerank=LLMReranker(model))
    found = await arun(
        search_memories(port_for(store), NS, query="cat dog", limit=2, options=options)
    )
    plain = run(search_memories(port_for(store), NS, query="cat dog", limit=4))
    assert keys(found) == [plain[2].key, plain[0].key]


def test_score_reranker_like_a_cross_encoder(store: EmbeddedStore) -> None:
    def by_length(query: str, texts: list[str]) -> list[float]:
        return [-len(t) for t in texts]

    options = SearchOptions(rerank=ScoreReranker(by_length))
    found = run(search_memories(port_for(store), NS, query="cat", limit=4, options=options))
    assert [i.value["content"]["content"] for i in found] == sorted(TEXTS, key=len)

    def broken(query: str, texts: list[str]) -> list[float]:
        return [1.0]

    with pytest.raises(InputError, match="one score per text"):
        run(
            search_memories(
                port_for(store),
                NS,
                query="cat",
                options=SearchOptions(rerank=ScoreReranker(broken)),
            )
        )


class Reverse(BaseDocumentCompressor):
    """Keeps the last two documents, last first."""

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return list(reversed(documents))[:2]


async def test_document_compressor_reranker(store: EmbeddedStore) -> None:
    plain = run(search_memories(port_for(store), NS, query="cat dog", limit=4))
    options = SearchOptions(rerank=CompressorReranker(Reverse()))
    found = run(search_memories(port_for(store), NS, query="cat dog", limit=4, options=options))
    assert keys(found) == [plain[3].key, plain[2].key, plain[0].key, plain[1].key]
    again = await arun(
        search_memories(port_for(store), NS, query="cat dog", limit=4, options=options)
    )
    assert keys(again) == keys(found)


def test_manager_search_takes_min_score_and_rerank(store: EmbeddedStore) -> None:
    from reverie import create_memory_store_manager

    manager = create_memory_store_manager(
        ScriptedChatModel(replies=["ok"]), namespace=NS, store=store
    )
    model = ScriptedChatModel(replies=["2"])
    found = manager.search(query="cat dog", limit=2, rerank=LLMReranker(model), min_score=-1.0)
    assert len(found) == 2 and model.calls
    assert manager.search(query="cat dog", min_score=1.0) == []


def test_a_reranker_also_orders_a_search_as_of_a_past_date(store: EmbeddedStore) -> None:
    """``as_of`` searches rerank the memories true then (here: all of them, written just now)."""
    when = TimeQuery(as_of=datetime.now(timezone.utc) + timedelta(days=1))
    plain = run(search_in_time(port_for(store), NS, when, query="cat dog", limit=4))
    shortest_first = ScoreReranker(lambda _q, texts: [-len(t) for t in texts])
    options = SearchOptions(rerank=shortest_first, min_score=-1.0)
    found = run(
        search_in_time(port_for(store), NS, when, query="cat dog", limit=2, options=options)
    )
    by_length = sorted(plain, key=lambda i: len(str(i.value["content"]["content"])))
    assert keys(found) == keys(by_length[:2]) != keys(plain[:2])
    paged = run(
        search_in_time(
            port_for(store), NS, when, query="cat dog", limit=2, offset=1, options=options
        )
    )
    assert keys(paged) == keys(by_length[1:3])


@pytest.mark.parametrize("depth", [0, -3, 2.5, True])
def test_a_rerank_depth_that_is_not_a_positive_whole_number_is_refused(depth: object) -> None:
    with pytest.raises(InputError, match="rerank_depth"):
        SearchOptions(rerank_depth=depth)  # type: ignore[arg-type]
    assert SearchOptions(rerank_depth=1).rerank_depth == 1
