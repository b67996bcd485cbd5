"""Agreement with sentence-transformers itself, when a Python with it is available.

Set ``REVERIE_ST_PYTHON`` to an interpreter that has ``sentence-transformers`` (and torch)
installed; otherwise this test is skipped, since Reverie does not depend on torch. Without it,
``test_golden_vectors.py`` checks against vectors sentence-transformers computed once.
"""

from __future__ import annotations

import pytest

from benchmarks.embedding_agreement import compare, reference_python
from benchmarks.embedding_texts import agreement_texts


def test_vectors_match_sentence_transformers() -> None:
    python = reference_python()
    if python is None:
        pytest.skip("no sentence-transformers: set REVERIE_ST_PYTHON to compare with it")
    texts = agreement_texts(quick=True)
    exact = compare(texts, python, "float32")
    assert exact["min_cosine"] >= 0.99999
    assert exact["max_abs_diff"] < 1e-4
    default = compare(texts, python)  # bfloat16 where that is faster, queries maybe int8
    assert default["min_cosine"] >= 0.99
    assert default["mean_cosine"] >= 0.999
    assert default["query_min_cosine"] >= 0.99
    assert default["query_mean_cosine"] >= 0.999
