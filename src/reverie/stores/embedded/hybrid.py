"""Hybrid ranking in the embedded store: the candidate pool that ``reverie.retrieval.fusion``
ranks, and maximal marginal relevance over the best of it.

The pool is the vector ranking's and the keyword ranking's candidates plus their neighbours in
their episodes; every candidate's exact cosine is looked up (or computed, for keyword
candidates outside the vector list), so the score returned is always the true cosine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable

import numpy as np
import numpy.typing as npt

from reverie.core.indexing import EpisodeFields, RankingOptions
from reverie.retrieval.diversity import diversify
from reverie.retrieval.fusion import Pool, rank_pool
from reverie.stores.embedded.cache import NamespaceEntry
from reverie.stores.embedded.episodes import EpisodeArrays
from reverie.stores.embedded.ranking import ORDER_SHIFT
from reverie.stores.embedded.vectors import FloatArray

Ranked = list[tuple[int, "float | None"]]  # (item id, cosine or None), best first
Scored = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]  # (item ids, scores), best first
IntArray = npt.NDArray[np.int64]


def hybrid_ranking(
    conn: sqlite3.Connection,
    entries: list[NamespaceEntry],
    fields: EpisodeFields,
    query: str,
    query_vector: FloatArray | None,
    vector: Scored,
    keywords: Scored,
    options: RankingOptions,
) -> Ranked:
    """The pool of ``vector`` and ``keywords`` candidates (and their neighbours), ranked."""
    indexes = [e.episode_index(conn, fields) for e in entries]
    if not any(e.of for e in indexes):
        return _ranked_in_arrays(entries, query, query_vector, vector, keywords, options)
    arrays = [e.arrays() for e in indexes]
    whole = [a for a in arrays if a is not None and a.keys is not None]
    if len(whole) == len(arrays):
        return _ranked_with_episodes(entries, whole, query, query_vector, vector, keywords, options)
    cosine = dict(zip(vector[0].tolist(), vector[1].tolist(), strict=True))
    keyword = dict(zip(keywords[0].tolist(), keywords[1].tolist(), strict=True))
    wanted = set(cosine) | set(keyword)
    ids: list[int] = []
    orders: list[int] = []
    contexts: list[tuple[Hashable | None, float, str | None]] = []
    for position, entry in enumerate(entries):
        mine = [i for i in wanted if _holds(entry, i)]
        if not mine:
            continue
        episodes = entry.episode_index(conn, fields)
        members = mine + sorted(episodes.neighbours(mine) - wanted)
        unscored = [i for i in members if i not in cosine and i in entry.vectors.rows_of]
        if unscored and query_vector is not None:
            rows = np.asarray([r for i in unscored for r in entry.vectors.rows_of[i]], np.int64)
            found_ids, found = entry.vectors.scores_at(rows, query_vector)
            cosine.update(zip(found_ids.tolist(), found.tolist(), strict=True))
        for item_id in members:
            episode, at, speaker = episodes.of.get(item_id, (None, None, None))
            ids.append(item_id)
            orders.append((position << ORDER_SHIFT) | item_id)
            contexts.append(
                ((position, episode) if episode is not None else None, _nan(at), speaker)
            )
    if not ids:
        return []
    pool = Pool(
        cosine=np.asarray([cosine.get(i, np.nan) for i in ids], dtype=np.float64),
        keyword=np.asarray([keyword.get(i, 0.0) for i in ids], dtype=np.float64),
        order=np.asarray(orders, dtype=np.int64),
        episode=[c[0] for c in contexts],
        position=np.asarray([c[1] for c in contexts], dtype=np.float64),
        speaker=[c[2] for c in contexts],
    )
    ranked = rank_pool(pool, query, options).tolist()
    return [(ids[p], cosine.get(ids[p])) for p in ranked]


def _ranked_with_episodes(
    entries: list[NamespaceEntry],
    arrays: list[EpisodeArrays],
    query: str,
    query_vector: FloatArray | None,
    vector: Scored,
    keywords: Scored,
    options: RankingOptions,
) -> Ranked:
    """``hybrid_ranking`` in arrays where every episode position is a whole number: the
    candidates, their neighbours and their context found without a Python step per item."""
    wanted = np.union1d(vector[0], keywords[0])
    owner = np.zeros(len(wanted), dtype=np.int64) if len(entries) == 1 else None
    if owner is None:
        owner = _positions(entries, wanted)
    parts: list[tuple[IntArray, IntArray]] = []
    for at, context in enumerate(arrays):
        mine = wanted[owner == at]
        near = context.neighbours(mine)
        assert near is not None  # every position is whole (checked by the caller)
        members = np.union1d(mine, near)
        parts.append((members, np.full(len(members), at, dtype=np.int64)))
    ids = np.concatenate([p[0] for p in parts])
    position_of = np.concatenate([p[1] for p in parts])
    if not len(ids):
        return []
    cosine = _looked_up(ids, position_of, vector, np.nan)
    keyword = _looked_up(ids, position_of, keywords, 0.0)
    for at, entry in enumerate(entries):
        unscored = np.isnan(cosine) & (position_of == at)
        rows = entry.vectors.first_rows(ids[unscored])
        if len(rows) and query_vector is not None:
            found_ids, found = entry.vectors.scores_at(rows, query_vector)
            mine = np.flatnonzero(position_of == at)
            cosine[mine[np.searchsorted(ids[mine], found_ids)]] = found
    episode = np.full(len(ids), -1, dtype=np.int64)
    place = np.full(len(ids), np.nan)
    speaker = np.full(len(ids), None, dtype=object)
    offset = 0
    for at, context in enumerate(arrays):
        mine = np.flatnonzero(position_of == at)
        has, where = context.locate(ids[mine])
        mine, where = mine[has], where[has]
        episode[mine] = context.episode[where] + offset  # episodes of two namespaces never match
        place[mine] = context.position[where]
        speaker[mine] = context.speaker[where]
        offset += int(context.episode.max()) + 1 if len(context.episode) else 0
    order = (position_of << ORDER_SHIFT) | ids
    pool = Pool(cosine, keyword, order, episode, place, speaker.tolist())
    return _ranked_ids(pool, ids, query, options)


def _looked_up(
    ids: IntArray, position_of: IntArray, scored: Scored, missing: float
) -> npt.NDArray[np.float64]:
    """``scored``'s score of each of ``ids`` (``missing`` where it has none); within one
    namespace's part ``ids`` ascend, and an item id belongs to one namespace only."""
    values = np.full(len(ids), missing)
    if not len(scored[0]):
        return values
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids[order], scored[0]), len(ids) - 1)
    hit = ids[order][at] == scored[0]
    values[order[at[hit]]] = scored[1][hit]
    return values


def _ranked_in_arrays(
    entries: list[NamespaceEntry],
    query: str,
    query_vector: FloatArray | None,
    vector: Scored,
    keywords: Scored,
    options: RankingOptions,
) -> Ranked:
    """``hybrid_ranking`` of namespaces without episodes (no neighbours to add), in arrays: the
    same ranking without a Python step per candidate."""
    ids = np.union1d(vector[0], keywords[0])
    if not len(ids):
        return []
    cosine = np.full(len(ids), np.nan)
    cosine[np.searchsorted(ids, vector[0])] = vector[1]
    keyword = np.zeros(len(ids))
    keyword[np.searchsorted(ids, keywords[0])] = keywords[1]
    unscored = np.isnan(cosine)
    order = ids
    if len(entries) > 1:
        # Store order across namespaces: namespace position first, then item id.
        position = _positions(entries, ids)
        order = (position << ORDER_SHIFT) | ids
        held = position >= 0
        ids, cosine, keyword, order = ids[held], cosine[held], keyword[held], order[held]
        unscored, position = unscored[held], position[held]
    for at, entry in enumerate(entries):
        mine = unscored if len(entries) == 1 else unscored & (position == at)
        # One row per item is enough: ``scores_at`` scores every row of an item with several.
        rows = entry.vectors.first_rows(ids[mine])
        if len(rows) and query_vector is not None:
            found_ids, found = entry.vectors.scores_at(rows, query_vector)
            cosine[np.searchsorted(ids, found_ids)] = found
    no_episodes: list[Hashable | None] = [None] * len(ids)
    pool = Pool(cosine, keyword, order, no_episodes, np.full(len(ids), np.nan), [None] * len(ids))
    return _ranked_ids(pool, ids, query, options)


def _ranked_ids(pool: Pool, ids: IntArray, query: str, options: RankingOptions) -> Ranked:
    """``ids`` (one per pool candidate) in ranked order, each with its cosine (None: no vector)."""
    ranked = rank_pool(pool, query, options)
    scores = pool.cosine[ranked].tolist()
    return [
        (i, s if s == s else None)  # NaN: no vector
        for i, s in zip(ids[ranked].tolist(), scores, strict=True)
    ]


def _positions(entries: list[NamespaceEntry], ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The position in ``entries`` of the namespace holding each of ``ids`` (-1: none)."""
    position = np.full(len(ids), -1, dtype=np.int64)
    for at, entry in enumerate(entries):
        position[(position < 0) & entry.vectors.holding(ids)] = at
    for n in np.flatnonzero(position < 0).tolist():  # items with keywords and no vectors
        position[n] = next((at for at, e in enumerate(entries) if _holds(e, int(ids[n]))), -1)
    return position


def _holds(entry: NamespaceEntry, item_id: int) -> bool:
    if item_id in entry.vectors.rows_of:
        return True
    return entry.keywords is not None and item_id in entry.keywords.doc_of


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def diversified(
    ranked: Ranked, entries: list[NamespaceEntry], diversity: float, wanted: int
) -> Ranked:
    """``ranked`` with its best ``3 * wanted`` (at least 30) reordered by MMR."""
    head = ranked[: max(3 * wanted, 30)]
    if diversity <= 0 or len(head) < 2:
        return ranked
    dims = entries[0].vectors.dims if entries else 0
    vectors = np.zeros((len(head), dims), dtype=np.float32)
    for n, (item_id, _) in enumerate(head):
        for entry in entries:
            rows = entry.vectors.rows_of.get(item_id)
            if rows:
                vectors[n] = entry.vectors.matrix[rows[0]]
                break
    order = diversify(vectors, diversity, len(head))
    return [head[i] for i in order] + ranked[len(head) :]
