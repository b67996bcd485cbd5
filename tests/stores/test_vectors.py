"""The similarity kernel and the per-namespace vector matrix."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from reverie.stores.embedded.vectors import SPLIT_ROWS, NamespaceVectors, similarities


def test_split_product_equals_single_thread() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((SPLIT_ROWS + 123, 16), dtype=np.float32)
    query = rng.standard_normal(16, dtype=np.float32)
    with ThreadPoolExecutor(3) as pool:
        split = similarities(matrix, query, pool, 3)
    np.testing.assert_allclose(split, matrix @ query, rtol=1e-5, atol=1e-5)


def test_multi_vector_items_keep_their_best_score() -> None:
    entry = NamespaceVectors(version=0, dims=2, matrix=np.empty((0, 2), dtype=np.float32))
    entry.add(7, np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    entry.add(9, np.array([[1.0, 1.0]], dtype=np.float32))
    entry.add(4, np.array([[-1.0, 0.0]], dtype=np.float32))
    entry.remove(4)
    ids, scores = entry.scores(np.array([0.0, 1.0], dtype=np.float32))
    best = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    assert best == pytest.approx({7: 1.0, 9: np.sqrt(0.5)}, rel=1e-6)
