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
    ``order`` is the store order that breaks ties (lower first). ``episode`` may be given as
    integer codes (-1: none), which a store with arrays at hand can build without a Python
    step per candidate."""

    cosine: FloatArray
    keyword: FloatArray
    order: IntArray
    episode: Sequence[Hashable | None] | IntArray  # or codes, -1 for none
    position: FloatArray
    speaker: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.cosine)

    def episode_codes(self) -> IntArray:
        """One integer per distinct episode (-1: none); ``episode`` may already be codes."""
        if isinstance(self.episode, np.ndarray):
            return self.episode.astype(np.int64, copy=False)
        codes: dict[Hashable, int] = {}
        return np.fromiter(
            (-1 if e is None else codes.setdefault(e, len(codes)) for e in self.episode),
            dtype=np.int64,
            count=len(self.episode),
        )


# Positions are matched exactly as integers when every one is a whole number in this range.
_POSITION_SPAN = 2**31


def neighbour_cosines(pool: Pool, codes: IntArray | None = None) -> FloatArray:
    """The best cosine among each item's neighbours in the pool (0 where it has none): the
    items of the same episode at position -1 and +1 (every item there, if several share it)."""
    codes = pool.episode_codes() if codes is None else codes
    best = np.zeros(len(pool), dtype=np.float64)
    placed = np.flatnonzero((codes >= 0) & ~np.isnan(pool.position))
    if not len(placed):
        return best
    position = pool.position[placed]
    if not (np.all(np.abs(position) < _POSITION_SPAN) and np.all(position == np.floor(position))):
        return _neighbour_cosines_by_lookup(pool, codes, placed)
    # (episode, position) as one integer key: neighbours are the keys one below and above.
    keys = codes[placed] * (2 * _POSITION_SPAN) + position.astype(np.int64)
    cosine = np.nan_to_num(pool.cosine[placed], nan=0.0)
    order = np.argsort(keys, kind="stable")
    keys, cosine = keys[order], cosine[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    unique, top = keys[starts], np.maximum.reduceat(cosine, starts)
    found = np.zeros(len(placed), dtype=np.float64)
    for step in (-1, 1):
        target = keys + step
        at = np.minimum(np.searchsorted(unique, target), len(unique) - 1)
        hit = unique[at] == target
        found[hit] = np.maximum(found[hit], top[at[hit]])
    best[placed[order]] = found  # 0 floors a negative neighbour cosine, as "no neighbour" does
    return best


def _neighbour_cosines_by_lookup(pool: Pool, codes: IntArray, placed: IntArray) -> FloatArray:
    """:func:`neighbour_cosines` for positions that are not all whole numbers."""
    cosine = np.nan_to_num(pool.cosine, nan=0.0)
    at: dict[tuple[int, float], list[int]] = {}
    for i in placed.tolist():
        at.setdefault((int(codes[i]), float(pool.position[i])), []).append(i)
    best = np.zeros(len(pool), dtype=np.float64)
    for (episode, position), items in at.items():
        around = at.get((episode, position - 1), []) + at.get((episode, position + 1), [])
        if around:
            best[items] = max(0.0, *(cosine[j] for j in around))
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
    codes = pool.episode_codes()
    # Without episodes there are no neighbours and no episode bonus.
    in_episodes = bool(len(codes)) and int(codes.max()) >= 0
    if options.neighbour_weight and in_episodes:
        similarity = similarity + options.neighbour_weight * neighbour_cosines(pool, codes)
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
        placed = codes >= 0
        best = np.full(int(codes.max()) + 1, -np.inf)
        np.maximum.at(best, codes[placed], fused[placed])
        fused = fused + options.episode_weight * np.where(placed, best[codes], 0.0)
    return fused


def rank_pool(pool: Pool, query: str, options: RankingOptions) -> IntArray:
    """Positions of the pool's candidates, best first (ties in store order)."""
    if not len(pool):
        return np.empty(0, dtype=np.int64)
    fused = fused_scores(pool, query, options)
    return np.lexsort((pool.order, -fused)).astype(np.int64)


__all__ = ["Pool", "fused_scores", "named_speakers", "neighbour_cosines", "rank_pool"]
