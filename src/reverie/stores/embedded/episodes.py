"""Where each memory of a namespace sits in its episode: the context hybrid ranking reads.

Read from the stored values themselves (``json_extract`` on the configured paths), so files
written before this existed need no migration; kept beside the namespace's vectors and keyword
index in the same cache entry, and patched by this process's writes like them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reverie.core.indexing import EpisodeFields

ItemContext = tuple[str | None, float | None, str | None]  # (episode, position, speaker)
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# Positions count as whole numbers (and adjacency as integer keys) only within this range.
POSITION_SPAN = 2**31


@dataclass(frozen=True)
class EpisodeArrays:
    """The same context as arrays over the item ids in ascending order, so a search finds a
    few hundred candidates' episodes and neighbours without a Python step per candidate."""

    ids: IntArray
    episode: IntArray  # a code per distinct episode
    position: FloatArray  # NaN: none
    speaker: npt.NDArray[np.object_]  # str or None
    keys: IntArray | None  # sorted episode * 2 * POSITION_SPAN + position; None: not whole
    key_items: IntArray  # the item at each key

    @classmethod
    def of(cls, of: dict[int, ItemContext]) -> EpisodeArrays:
        ids = np.fromiter(sorted(of), dtype=np.int64, count=len(of))
        codes: dict[str | None, int] = {}
        contexts = [of[i] for i in ids.tolist()]
        episode = np.fromiter(
            (codes.setdefault(c[0], len(codes)) for c in contexts), np.int64, len(contexts)
        )
        position = np.fromiter(
            (np.nan if c[1] is None else c[1] for c in contexts), np.float64, len(contexts)
        )
        speaker = np.empty(len(contexts), dtype=object)
        speaker[:] = [c[2] for c in contexts]
        placed = ~np.isnan(position)
        whole = bool(
            np.all(np.abs(position[placed]) < POSITION_SPAN)
            and np.all(position[placed] == np.floor(position[placed]))
        )
        keys, key_items = None, ids[:0]
        if whole:
            found = episode[placed] * (2 * POSITION_SPAN) + position[placed].astype(np.int64)
            order = np.argsort(found, kind="stable")
            keys, key_items = found[order], ids[placed][order]
        return cls(ids, episode, position, speaker, keys, key_items)

    def locate(self, items: IntArray) -> tuple[npt.NDArray[np.bool_], IntArray]:
        """Whether each of ``items`` has an episode, and its index in these arrays."""
        at = np.minimum(np.searchsorted(self.ids, items), max(len(self.ids) - 1, 0))
        found = self.ids[at] == items if len(self.ids) else np.zeros(len(items), dtype=bool)
        return found, at

    def neighbours(self, items: IntArray) -> IntArray | None:
        """Items adjacent to any of ``items`` (None: positions not all whole, ask the dicts)."""
        if self.keys is None:
            return None
        found, at = self.locate(items)
        at = at[found]
        placed = ~np.isnan(self.position[at])
        at = at[placed]
        keys = self.episode[at] * (2 * POSITION_SPAN) + self.position[at].astype(np.int64)
        targets = np.concatenate([keys - 1, keys + 1])
        lo = np.searchsorted(self.keys, targets, side="left")
        hi = np.searchsorted(self.keys, targets, side="right")
        if not len(lo):
            return self.ids[:0]
        if int((hi - lo).max()) <= 1:
            return np.unique(self.key_items[lo[hi > lo]])
        spans = [self.key_items[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        return np.unique(np.concatenate(spans))


def _json_path(path: str) -> str:
    return "$." + path  # EpisodeFields allows only plain dotted names


class NamespaceEpisodes:
    """Item id -> (episode, position, speaker), and (episode, position) -> item id, for the
    namespace's ranked (embedded or keyword-indexed) items."""

    def __init__(self) -> None:
        self.of: dict[int, ItemContext] = {}
        self.at: dict[tuple[str, float], int] = {}
        self._arrays: EpisodeArrays | None = None
        self._changed = False  # written since the last search asked for the arrays

    @classmethod
    def load(cls, conn: sqlite3.Connection, ns_id: int, fields: EpisodeFields) -> NamespaceEpisodes:
        episodes = cls()
        paths = [_json_path(p) for p in fields.paths]
        rows = conn.execute(
            "SELECT id, json_extract(value, ?), json_extract(value, ?), json_extract(value, ?) "
            "FROM items WHERE ns_id = ? AND (body IS NOT NULL OR id IN "
            "(SELECT item_id FROM vectors WHERE ns_id = ?)) ORDER BY id",
            (*paths, ns_id, ns_id),
        )
        for item_id, episode, position, speaker in rows:
            episodes.add(item_id, _context(episode, position, speaker))
        episodes._changed = False  # freshly loaded: the first search builds the arrays
        return episodes

    def add(self, item_id: int, context: ItemContext) -> None:
        episode, position, _ = context
        if episode is None:
            return
        self._arrays, self._changed = None, True
        self.of[item_id] = context
        if position is not None:
            self.at[(episode, position)] = item_id

    def remove(self, item_id: int) -> None:
        context = self.of.pop(item_id, None)
        if context is not None:
            self._arrays, self._changed = None, True
        if context is not None and context[1] is not None:
            key = (str(context[0]), context[1])
            if self.at.get(key) == item_id:
                del self.at[key]

    def neighbours(self, item_ids: Iterable[int]) -> set[int]:
        """Items adjacent (position -1 or +1 in the same episode) to any of ``item_ids``."""
        found: set[int] = set()
        for item_id in item_ids:
            context = self.of.get(item_id)
            if context is None or context[1] is None:
                continue
            episode, position = str(context[0]), context[1]
            for step in (-1.0, 1.0):
                other = self.at.get((episode, position + step))
                if other is not None:
                    found.add(other)
        return found

    def arrays(self) -> EpisodeArrays | None:
        """The context as arrays, or None for the first search after a change.

        Building them is a pass over the whole namespace (~2 ms at 10k memories), more than one
        search costs on the lookup path: a loop that writes between searches keeps that path,
        and the arrays are built once a search follows another without a write between.
        """
        if self._arrays is None:
            if self._changed:
                self._changed = False
                return None
            self._arrays = EpisodeArrays.of(self.of)
        return self._arrays

    @property
    def nbytes(self) -> int:
        return 240 * len(self.of)


def _context(episode: object, position: object, speaker: object) -> ItemContext:
    """As ``EpisodeFields.of`` reads a value: JSON objects and arrays are no episode id."""
    # json_extract gives objects and arrays as JSON text: those are no episode id.
    is_json = isinstance(episode, str) and episode[:1] in ("{", "[")
    episode_id = None if episode is None or episode == "" or is_json else str(episode)
    number = (
        float(position)
        if isinstance(position, (int, float)) and not isinstance(position, bool)
        else None
    )
    return (episode_id, number, speaker if isinstance(speaker, str) and speaker else None)
