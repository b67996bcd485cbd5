from __future__ import annotations

import sys

import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.memory import InMemoryStore

from reverie.core.errors import EmbeddingError
from reverie.embeddings import LocalMiniLMEmbeddings, default_index, resolve_embeddings
from reverie.testing import HashingEmbeddings


@pytest.mark.parametrize(
    "spec", [None, "local", "minilm", " MiniLM ", "local:all-MiniLM-L6-v2", "local:minilm"]
)
def test_local_specs_give_the_bundled_model(spec: str | None) -> None:
    assert isinstance(resolve_embeddings(spec), LocalMiniLMEmbeddings)


def test_an_embeddings_instance_is_returned_unchanged() -> None:
    mine = HashingEmbeddings(16)
    assert resolve_embeddings(mine) is mine


def test_missing_provider_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # as if not installed
    with pytest.raises(EmbeddingError) as info:
        resolve_embeddings("openai:text-embedding-3-small")
    assert "langchain-openai" in str(info.value)
    assert "openai:text-embedding-3-small" in str(info.value)


@pytest.mark.parametrize("spec", ["nosuchprovider:some-model", "word2vec", 42])
def test_unusable_specs_are_typed_errors(spec: object) -> None:
    with pytest.raises(EmbeddingError):
        resolve_embeddings(spec)  # type: ignore[arg-type]  # deliberately wrong type (42)


def test_default_index_is_a_384_dim_langgraph_config() -> None:
    index = default_index()
    assert index["dims"] == 384
    assert isinstance(index["embed"], LocalMiniLMEmbeddings)
    assert index["fields"] == ["$"]
    assert default_index(["content.content"])["fields"] == ["content.content"]


def test_default_index_can_share_one_embedder() -> None:
    shared = LocalMiniLMEmbeddings()
    assert default_index(embed=shared)["embed"] is shared
    assert default_index(embed=shared)["embed"] is default_index(embed=shared)["embed"]


def test_default_index_ranks_memories_in_a_langgraph_store(minilm: LocalMiniLMEmbeddings) -> None:
    store = InMemoryStore(index=default_index(["content.content"], embed=minilm))
    memories = {
        "pet": "Caroline adopted a grey cat named Miso last spring.",
        "job": "Caroline works night shifts as a nurse at the city hospital.",
        "trip": "Melanie is planning a hiking trip to the Alps in July.",
    }
    for key, text in memories.items():
        store.put(("memories",), key, {"kind": "Memory", "content": {"content": text}})
    hits = store.search(("memories",), query="Does she have any animals at home?", limit=3)
    assert [hit.key for hit in hits][0] == "pet"
    assert store.index_config is not None
    assert isinstance(store.index_config["embed"], Embeddings)
