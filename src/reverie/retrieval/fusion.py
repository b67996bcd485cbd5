"""Hybrid ranking of one search's candidates, the same for every store.

A store gathers a *pool* of candidates (the best by cosine similarity, the best by BM25, and
the memories adjacent to them in their episodes) and describes each: its cosine to the query,
its BM25 score, its episode, position and speaker. :func:`rank_pool` then orders the pool:

1. each cosine is raised by ``neighbour_weight`` times the best cosine of its neighbours
   (position -1 and +1 in the same episode), and the pool is ranked by that;
2. reciprocal rank fusion of that ranking and the BM25 ranking (``keyword_weight`` for BM25);
3. memories whose speaker the query names are multiplied by ``1 + speaker_weight``;
4. each memory gains ``episode_weight`` times the best fused score in its episode.

Only the order comes from here: the score a store returns is the item's cosine similarity, so
thresholds mean the same in every query.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reverie.core.indexing import RankingOptions

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Pool:
    """Candidates, one per position in each array. ``cosine`` is NaN for an item without a
    vector, ``keyword`` 0 for one without a matching word, ``position`` NaN where unknown;
    ``order`` is the store order that breaks ties (lower first)."""

    cosine: FloatArray
    keyword: FloatArray
    order: IntArray
    episode: Sequence[Hashable | None]
    position: FloatArray
    speaker: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.cosine)


def neighbour_cosines(pool: Pool) -> FloatArray:
    """The best cosine among each item's neighbours in the pool (0 where it has none)."""
    at: dict[tuple[Hashable, float], int] = {}
    for i, (episode, position) in enumerate(zip(pool.episode, pool.position.tolist(), strict=True)):
        if episode is not None and position == position:  # NaN != NaN
            at[(episode, position)] = i
    best = np.zeros(len(pool), dtype=np.float64)
    if not at:
        return best
    cosine = np.nan_to_num(pool.cosine, nan=0.0)
    for (episode, position), i in at.items():
        around = [at.get((episode, position - 1)), at.get((episode, position + 1))]
        found = [cosine[j] for j in around if j is not None]
        if found:
            best[i] = max(0.0, *found)
    return best


def _rank_of(values: FloatArray, order: IntArray, valid: npt.NDArray[np.bool_]) -> FloatArray:
    """1-based rank of each valid value, best first, ties in store order (inf when invalid)."""
    ranks = np.full(len(values), np.inf)
    chosen = np.flatnonzero(valid)
    ranked = chosen[np.lexsort((order[chosen], -values[chosen]))]
    ranks[ranked] = np.arange(1, len(ranked) + 1)
    return ranks


def named_speakers(query: str, speakers: Sequence[str | None]) -> set[str]:
    """Speakers of the pool whose name the query contains as a word (case-insensitive)."""
    named = set()
    for speaker in {s for s in speakers if s}:
        if re.search(rf"(?<!\w){re.escape(speaker)}(?!\w)", query, re.IGNORECASE):
            named.add(speaker)
    return named


def fused_scores(pool: Pool, query: str, options: RankingOptions) -> FloatArray:
    """Each candidate's fused ranking score (higher is better; only its order means anything)."""
    has_vector = ~np.isnan(pool.cosine)
    similarity = np.nan_to_num(pool.cosine, nan=0.0)
    # Without episodes there are no neighbours and no episode bonus: skip both loops.
    in_episodes = any(e is not None for e in pool.episode)
    if options.neighbour_weight and in_episodes:
        similarity = similarity + options.neighbour_weight * neighbour_cosines(pool)
    k = options.rrf_k
    fused = 1.0 / (k + _rank_of(similarity, pool.order, has_vector))
    if options.keyword_weight:
        keyword_rank = _rank_of(pool.keyword, pool.order, pool.keyword > 0)
        fused = fused + options.keyword_weight / (k + keyword_rank)
    if options.speaker_weight:
        named = named_speakers(query, pool.speaker)
        if named:
            fused = fused * np.where(
                [s in named for s in pool.speaker], 1 + options.speaker_weight, 1
            )
    if options.episode_weight and in_episodes:
        best: dict[Hashable, float] = {}
        for episode, score in zip(pool.episode, fused.tolist(), strict=True):
            if episode is not None and score > best.get(episode, -1.0):
                best[episode] = score
        fused = fused + options.episode_weight * np.asarray(
            [best[e] if e is not None else 0.0 for e in pool.episode], dtype=np.float64
        )
    return fused


def rank_pool(pool: Pool, query: str, options: RankingOptions) -> IntArray:
    """Positions of the pool's candidates, best first (ties in store order)."""
    if not len(pool):
        return np.empty(0, dtype=np.int64)
    fused = fused_scores(pool, query, options)
    return np.lexsort((pool.order, -fused)).astype(np.int64)


__all__ = ["Pool", "fused_scores", "named_speakers", "neighbour_cosines", "rank_pool"]
