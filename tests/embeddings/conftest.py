from __future__ import annotations

import pytest

from reverie.embeddings import LocalMiniLMEmbeddings


@pytest.fixture(scope="module")
def minilm() -> LocalMiniLMEmbeddings:
    """One loaded model per test module (loading reads ~90 MB of weights)."""
    embedder = LocalMiniLMEmbeddings()
    embedder.embed_query("warm up")
    return embedder


def onnx_query_floor() -> float:
    """The least cosine to float32 of a query embedded through onnxruntime: 0.995, or 0.99
    (the bar the int8 encoder was built to) where onnxruntime's int8 products saturate and the
    weights keep 7 bits (``reverie.embeddings.onnx_query.weight_levels``): measured 0.9945 on
    one 300-token text there, 0.9989 on questions."""
    from reverie.embeddings.onnx_query import onnx_available, weight_levels

    return 0.99 if onnx_available() and weight_levels() < 127 else 0.995
