"""Choosing the best rows of a score vector, and the search modes.

Hybrid fusion itself lives in ``reverie.retrieval.fusion`` (shared with the PostgreSQL store);
its defaults and how they were chosen are in ``reverie.core.indexing.RankingOptions``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "keyword")
STRIDE = 17  # see at_least; odd, so rows laid out in pairs (two vectors an item) are sampled alike
ORDER_SHIFT = 40  # store order as one key: namespace position, then item id (below 2**40)


def top_positions(
    scores: npt.NDArray[np.float32], tiebreak: npt.NDArray[np.int64], count: int | None
) -> npt.NDArray[np.int64]:
    """Positions of the ``count`` highest scores (all when None), best first.

    Ties are ordered by ``tiebreak`` (insertion order), as a stable sort over the store's order
    would, and every row tied with the last one kept is kept too.
    """
    n = len(scores)
    if count is None or count >= n:
        chosen = np.arange(n)
    else:
        chosen = np.flatnonzero(scores >= at_least(scores, count))
        if len(chosen) > count:  # the cheap threshold let some extra rows through
            kept = scores[chosen]
            chosen = chosen[kept >= np.partition(kept, len(kept) - count)[len(kept) - count]]
    order = np.lexsort((tiebreak[chosen], -scores[chosen]))
    return chosen[order].astype(np.int64)


def at_least(values: npt.NDArray[np.float32], k: int) -> float:
    """A threshold with at least ``k`` of ``values`` at or above it, and not many more.

    Guessed from every ``STRIDE``-th value first, far cheaper than partitioning everything; a
    guess that leaves fewer than ``k`` is replaced by the exact ``k``-th largest.
    """
    n = len(values)
    if k >= n:
        return float(values.min()) if n else 0.0
    if n < STRIDE * 64:
        return float(np.partition(values, n - k)[n - k])
    sample = values[::STRIDE]
    # Ask the sample for half again the share it should hold, so the guess is rarely too high.
    rank = min(len(sample) - 1, (3 * k) // (2 * STRIDE) + 2)
    guess = float(np.partition(sample, len(sample) - 1 - rank)[len(sample) - 1 - rank])
    if np.count_nonzero(values >= guess) >= k:
        return guess
    return float(np.partition(values, n - k)[n - k])
