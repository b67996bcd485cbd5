from __future__ import annotations

import pytest

from reverie.embeddings import LocalMiniLMEmbeddings


@pytest.fixture(scope="module")
def minilm() -> LocalMiniLMEmbeddings:
    """One loaded model per test module (loading reads ~90 MB of weights)."""
    embedder = LocalMiniLMEmbeddings()
    embedder.embed_query("warm up")
    return embedder
