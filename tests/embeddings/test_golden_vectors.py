"""The local encoder against sentence-transformers' own all-MiniLM-L6-v2 vectors, in CI.

``golden_minilm.json`` holds 40 varied texts (empty, whitespace, non-ASCII, emoji, code, past
256 tokens) and the vectors sentence-transformers computes for them from the same model
directory, made once with torch (``python -m benchmarks.embedding_golden``). Reverie does not
depend on torch, so this file is what "identical to sentence-transformers" is checked against
on every run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reverie.embeddings import LocalMiniLMEmbeddings
from reverie.embeddings.projections import bfloat16_kernels, int8_kernels

GOLDEN = Path(__file__).with_name("golden_minilm.json")


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


def cosines(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    found: np.ndarray = np.sum(ours * theirs, axis=1) / norms
    return found


def test_golden_file_is_varied_and_complete(golden: dict[str, Any]) -> None:
    texts, vectors = golden["texts"], np.asarray(golden["vectors"])
    assert len(texts) >= 40 and vectors.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert "" in texts and any(not t.isascii() for t in texts)
    assert sum(len(t.split()) > 256 for t in texts) >= 3  # truncated at 256 tokens


@pytest.mark.parametrize("batched", [True, False], ids=["documents", "queries"])
def test_float32_matches_sentence_transformers(golden: dict[str, Any], batched: bool) -> None:
    embedder = LocalMiniLMEmbeddings(precision="float32")
    texts = golden["texts"]
    theirs = np.asarray(golden["vectors"])
    if batched:
        ours = np.asarray(embedder.embed_documents(texts))
    else:
        ours = np.asarray([embedder.embed_query(text) for text in texts])
    assert cosines(ours, theirs).min() >= 0.99999
    # The README says these are sentence-transformers' own vectors (measured: 2.8e-7 at most).
    assert np.abs(ours - theirs).max() < 1e-6


@pytest.mark.parametrize(
    ("precision", "query_engine"),
    [("auto", "auto"), ("bfloat16", "auto"), ("int8", "auto"), ("int8", "numpy")],
)
def test_faster_precisions_stay_close_to_sentence_transformers(
    golden: dict[str, Any], precision: str, query_engine: str
) -> None:
    if precision == "bfloat16" and bfloat16_kernels() is None:
        pytest.skip("numkong's bfloat16 kernels are not usable here")
    if precision == "int8" and int8_kernels() is None:
        pytest.skip("numkong's int8 kernels are not usable here")
    embedder = LocalMiniLMEmbeddings(
        precision=precision,  # type: ignore[arg-type]
        query_engine=query_engine,  # type: ignore[arg-type]
    )
    texts = golden["texts"]
    found = cosines(np.asarray(embedder.embed_documents(texts)), np.asarray(golden["vectors"]))
    # The bar for an approximate path; measured: min 0.99997, mean 0.99999 for bfloat16, min
    # 0.998, mean 0.9995 for int8.
    assert found.min() >= 0.99
    assert found.mean() >= 0.999
    one_by_one = np.asarray([embedder.embed_query(text) for text in texts])
    assert cosines(one_by_one, np.asarray(golden["vectors"])).min() >= 0.99
