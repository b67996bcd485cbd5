"""Where each memory of a namespace sits in its episode: the context hybrid ranking reads.

Read from the stored values themselves (``json_extract`` on the configured paths), so files
written before this existed need no migration; kept beside the namespace's vectors and keyword
index in the same cache entry, and patched by this process's writes like them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from reverie.core.indexing import EpisodeFields

ItemContext = tuple[str | None, float | None, str | None]  # (episode, position, speaker)


def _json_path(path: str) -> str:
    return "$." + path  # EpisodeFields allows only plain dotted names


class NamespaceEpisodes:
    """Item id -> (episode, position, speaker), and (episode, position) -> item id, for the
    namespace's ranked (embedded or keyword-indexed) items."""

    def __init__(self) -> None:
        self.of: dict[int, ItemContext] = {}
        self.at: dict[tuple[str, float], int] = {}

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
        return episodes

    def add(self, item_id: int, context: ItemContext) -> None:
        episode, position, _ = context
        if episode is None:
            return
        self.of[item_id] = context
        if position is not None:
            self.at[(episode, position)] = item_id

    def remove(self, item_id: int) -> None:
        context = self.of.pop(item_id, None)
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

    @property
    def nbytes(self) -> int:
        return 200 * len(self.of)


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
