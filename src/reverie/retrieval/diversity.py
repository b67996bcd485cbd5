"""Maximal marginal relevance: reorder the best candidates so that near-duplicates spread out.

Greedy MMR (Carbonell and Goldstein, 1998): each next pick maximises
``(1 - diversity) * relevance - diversity * (highest cosine to an item already picked)``, with
relevance the candidate's fused rank mapped linearly from 1 (first) to 0.5 (last): fused scores
have no scale of their own. ``diversity`` 0 keeps the ranking as it is; 1 picks by
dissimilarity alone after the first.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]


def diversify(vectors: FloatMatrix, diversity: float, count: int) -> list[int]:
    """Positions into ``vectors`` (best-ranked first, unit rows; a zero row for an item without
    a vector) in MMR order, the first ``count`` of them."""
    n = len(vectors)
    if n == 0 or count <= 0:
        return []
    if diversity <= 0 or n == 1:
        return list(range(min(count, n)))
    relevance = 1.0 / (1.0 + np.arange(n, dtype=np.float64) / max(n - 1, 1))
    closest = np.full(n, -np.inf)
    chosen: list[int] = []
    left = np.ones(n, dtype=bool)
    while len(chosen) < min(count, n):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        gain = (1 - diversity) * relevance - diversity * redundancy
        gain[~left] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        left[pick] = False
        closest = np.maximum(closest, vectors @ vectors[pick])
    return chosen


__all__ = ["diversify"]
