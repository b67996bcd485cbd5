"""Which embedder ``--embeddings`` / ``REVERIE_EMBEDDINGS`` selects."""

from __future__ import annotations

import pytest

import reverie.embeddings
from reverie.cli.embedding_choice import configured_embeddings, index_for
from reverie.core.errors import ConfigurationError, EmbeddingError
from reverie.testing import HashingEmbeddings


def test_local_is_the_default_and_means_the_stores_own_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REVERIE_EMBEDDINGS", raising=False)
    assert configured_embeddings() == "local"
    assert index_for(None) is None
    monkeypatch.setenv("REVERIE_EMBEDDINGS", " hashing ")
    assert configured_embeddings() == "hashing"
    assert configured_embeddings("local") == "local"  # the option wins over the environment


def test_hashing_is_deterministic() -> None:
    first, second = index_for("hashing"), index_for("hashing")
    assert first is not None and second is not None
    embed, again = first["embed"], second["embed"]
    assert isinstance(embed, HashingEmbeddings) and isinstance(again, HashingEmbeddings)
    assert embed.embed_query("clownfish") == again.embed_query("clownfish")
    assert first["dims"] == len(embed.embed_query("clownfish"))


def test_a_provider_model_is_resolved_and_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def resolve(spec: str) -> HashingEmbeddings:
        asked.append(spec)
        return HashingEmbeddings(48)

    monkeypatch.setattr(reverie.embeddings, "resolve_embeddings", resolve)
    index = index_for("someprovider:embed-v2")
    assert asked == ["someprovider:embed-v2"]
    assert index is not None and index["dims"] == 48


def test_a_provider_model_that_fails_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(HashingEmbeddings):
        def embed_query(self, text: str) -> list[float]:
            raise RuntimeError("401 unauthorized")

    monkeypatch.setattr(reverie.embeddings, "resolve_embeddings", lambda spec: Broken())
    with pytest.raises(EmbeddingError, match="401 unauthorized"):
        index_for("someprovider:embed-v2")


def test_an_unknown_name_says_what_is_accepted() -> None:
    with pytest.raises(ConfigurationError, match="'local'.*'hashing'.*'provider:model'"):
        index_for("minilm-large")
