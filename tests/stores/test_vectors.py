"""The similarity kernel and the per-namespace vector matrix."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest

from reverie.stores.embedded.ranking import at_least, top_positions
from reverie.stores.embedded.vectors import (
    QUANTIZED_MIN_ROWS,
    SPLIT_ROWS,
    NamespaceVectors,
    similarities,
)


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


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    order = np.lexsort((ids, -scores))[:k]
    return ids[order].tolist()


def _unit(rows: np.ndarray) -> npt.NDArray[np.float32]:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def _near_ties(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    """Rows whose cosines with the first axis differ by 1e-5 steps around 0.5, far finer than
    int8 rounding can tell apart."""
    other = _unit(rng.standard_normal((n, dims - 1), dtype=np.float32))
    cosine = 0.5 + 1e-5 * rng.permutation(n).astype(np.float32)
    rows = np.empty((n, dims), dtype=np.float32)
    rows[:, 0] = cosine
    rows[:, 1:] = other * np.sqrt(1.0 - cosine**2)[:, None]
    return rows


@pytest.mark.parametrize("data", ["random", "clustered", "duplicates", "near_ties"])
def test_narrowed_top_k_is_the_exact_top_k(data: str) -> None:
    """int8 narrowing may skip rows only when they provably cannot rank: on structureless,
    clustered, tied and nearly tied data alike, the top 100 equals a full float32 scan's."""
    rng = np.random.default_rng(3)
    n, dims = (QUANTIZED_MIN_ROWS // 50 + 80) * 50, 64  # past the threshold, a multiple of 50
    queries = _unit(rng.standard_normal((12, dims), dtype=np.float32))
    if data == "near_ties":
        # Rotated so that no coordinate is quantised exactly.
        rotation = np.linalg.qr(rng.standard_normal((dims, dims)))[0].astype(np.float32)
        matrix = _near_ties(rng, n, dims) @ rotation
        queries[:] = rotation[0]
    elif data == "random":
        matrix = rng.standard_normal((n, dims), dtype=np.float32)
    elif data == "clustered":
        centres = rng.standard_normal((40, dims), dtype=np.float32)
        noise = rng.standard_normal((n, dims), dtype=np.float32)
        matrix = centres[rng.integers(0, 40, n)] + 0.2 * noise
    else:  # many exact duplicates: ties at the cut must all be kept
        matrix = np.repeat(rng.standard_normal((n // 50, dims), dtype=np.float32), 50, axis=0)
    entry = NamespaceVectors.build(1, dims, np.arange(n, dtype=np.int64), matrix)
    with ThreadPoolExecutor(2) as pool:
        for query in queries:
            ids, scores, whole = entry.top_scores(query, 100, pool, 2)
            assert not whole and len(ids) < n  # it did narrow
            all_ids, all_scores = entry.scores(query)
            assert _top(ids, scores, 100) == _top(all_ids, all_scores, 100)
            expected = dict(zip(all_ids.tolist(), all_scores.tolist(), strict=True))
            np.testing.assert_allclose(scores, [expected[i] for i in ids.tolist()], rtol=1e-6)


@pytest.mark.parametrize("rows_per_item", [2, 3])
def test_items_with_several_vectors_narrow_to_the_exact_top_k(rows_per_item: int) -> None:
    """An item ranks by its best vector: narrowing keeps enough rows to hold every top item's
    best row, and every item returned carries its best cosine over all its rows, so the top 100
    items and their scores equal a full scan's, also after removals and a shorter item."""
    rng = np.random.default_rng(11)
    # Enough rows that the top 100 items' rows are a small share of them (so narrowing runs).
    items, dims = 2 * QUANTIZED_MIN_ROWS // rows_per_item + 600, 48
    centres = rng.standard_normal((30, dims), dtype=np.float32)
    entry = NamespaceVectors(version=0, dims=dims, matrix=np.empty((0, dims), dtype=np.float32))
    for item_id in range(items):
        rows = centres[rng.integers(0, 30, rows_per_item)]
        entry.add(item_id, rows + 0.3 * rng.standard_normal(rows.shape, dtype=np.float32))
    for item_id in range(0, 600, 7):
        entry.remove(item_id)
    entry.add(10**6, centres[:1])  # an item with one vector among items with several
    queries = _unit(rng.standard_normal((8, dims), dtype=np.float32))
    with ThreadPoolExecutor(2) as pool:
        for query in [*queries, _unit(centres[0])]:
            ids, scores, whole = entry.top_scores(query, 100, pool, 2)
            assert not whole and len(ids) < items // 4  # it did narrow
            all_ids, all_scores = entry.scores(query)
            assert _top(ids, scores, 100) == _top(all_ids, all_scores, 100)
            expected = dict(zip(all_ids.tolist(), all_scores.tolist(), strict=True))
            np.testing.assert_allclose(scores, [expected[i] for i in ids.tolist()], rtol=1e-6)
            assert not set(range(0, 600, 7)) & set(ids.tolist())


def test_scores_at_gives_each_item_its_best_row_whichever_row_was_asked() -> None:
    """``scores_at`` with items of several vectors returns each item's best over all its rows,
    whichever of its rows was asked for."""
    entry = NamespaceVectors(version=0, dims=2, matrix=np.empty((0, 2), dtype=np.float32))
    entry.add(1, np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    entry.add(2, np.array([[0.0, -1.0], [1.0, 1.0]], dtype=np.float32))
    query = np.array([0.0, 1.0], dtype=np.float32)
    ids, scores = entry.scores_at(np.array([0, 2], dtype=np.int64), query)
    assert dict(zip(ids.tolist(), scores.tolist(), strict=True)) == pytest.approx(
        {1: 1.0, 2: np.sqrt(0.5)}, rel=1e-6
    )


def test_narrowing_follows_removals_and_additions() -> None:
    rng = np.random.default_rng(5)
    n, dims = QUANTIZED_MIN_ROWS + 500, 32
    entry = NamespaceVectors.build(
        1, dims, np.arange(n, dtype=np.int64), rng.standard_normal((n, dims), dtype=np.float32)
    )
    query = _unit(rng.standard_normal(dims, dtype=np.float32))
    best = _top(*entry.top_scores(query, 10)[:2], 10)
    for item_id in best[:5]:
        entry.remove(item_id)  # the former best must disappear, not linger as codes
    entry.add(10**6, query[None, :] * 3.0)  # a new exact match must come first
    for i in range(2_000):  # growth past the capacity keeps the codes in step
        entry.add(2 * 10**6 + i, rng.standard_normal((1, dims), dtype=np.float32))
    ids, scores, whole = entry.top_scores(query, 10)
    all_ids, all_scores = entry.scores(query)
    assert not whole
    assert _top(ids, scores, 10) == _top(all_ids, all_scores, 10)
    assert _top(ids, scores, 10)[0] == 10**6
    assert not set(best[:5]) & set(ids.tolist())


def test_small_or_deep_searches_scan_everything() -> None:
    rng = np.random.default_rng(6)
    small = NamespaceVectors.build(
        1, 8, np.arange(100, dtype=np.int64), rng.standard_normal((100, 8), dtype=np.float32)
    )
    query = _unit(rng.standard_normal(8, dtype=np.float32))
    assert small.top_scores(query, 10)[2] is True
    assert small.quantized is None  # no codes spent on small namespaces


def test_narrowed_searches_leave_reference_counts_alone() -> None:
    """A kernel that drops references to None crashes the interpreter at exit (Python 3.11)."""
    rng = np.random.default_rng(7)
    n, dims = QUANTIZED_MIN_ROWS + 10, 16
    entry = NamespaceVectors.build(
        1, dims, np.arange(n, dtype=np.int64), rng.standard_normal((n, dims), dtype=np.float32)
    )
    query = _unit(rng.standard_normal(dims, dtype=np.float32))
    entry.top_scores(query, 10)
    before = sys.getrefcount(None)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(200):
            assert not entry.top_scores(query, 10, pool, 2)[2]
    assert sys.getrefcount(None) >= before - 50  # other threads may hold a few transiently


@pytest.mark.parametrize("n", [50, 5_000, 200_000])
@pytest.mark.parametrize("count", [1, 10, 100])
def test_top_positions_keep_ties_and_store_order(n: int, count: int) -> None:
    """Best first, ties in store order, and every row tied with the last one kept."""
    rng = np.random.default_rng(n + count)
    scores = rng.integers(0, 300, size=n).astype(np.float32)  # many ties at every cut
    tiebreak = rng.permutation(n).astype(np.int64)
    got = top_positions(scores, tiebreak, count)
    ranked = sorted(range(n), key=lambda i: (-scores[i], tiebreak[i]))
    cut = scores[ranked[min(count, n) - 1]]
    assert got.tolist() == [i for i in ranked if scores[i] >= cut]
    assert at_least(scores, count) <= cut


def test_first_rows_finds_a_row_of_each_item_with_vectors() -> None:
    rng = np.random.default_rng(3)
    vectors = NamespaceVectors.build(
        1,
        4,
        np.array([5, 2, 2, 9], dtype=np.int64),  # not in id order; item 2 has two rows
        rng.standard_normal((4, 4), dtype=np.float32),
    )
    rows = vectors.first_rows(np.array([2, 3, 5, 9], dtype=np.int64))  # 3 has no vectors
    assert sorted(vectors.ids[rows].tolist()) == [2, 5, 9]
    vectors.remove(5)
    vectors.add(7, rng.standard_normal((1, 4), dtype=np.float32))
    rows = vectors.first_rows(np.array([5, 7, 9], dtype=np.int64))  # 5 was removed
    assert sorted(vectors.ids[rows].tolist()) == [7, 9]
