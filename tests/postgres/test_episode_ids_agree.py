"""Episode ids that ``EpisodeFields.of`` reads as "no episode" (an empty string, an object, a
list) are no episode in PostgreSQL's hybrid ranking either, so both stores rank alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reverie.testing import hashing_index
from tests.store_factories import FACTORIES

pytestmark = pytest.mark.postgres
NS = ("u",)
TEXTS = [
    "the train leaves at nine",
    "bring a sandwich",
    "museum tickets are sold out",
    "weather looks rainy",
    "we should book the hotel",
    "pixel needs a walk",
    "remember the charger",
    "dinner at eight",
]


def ranking(kind: str, tmp_path: Path, episode: Any) -> list[tuple[str, float]]:
    with FACTORIES[kind](tmp_path, hashing_index(dims=64)) as store:
        for turn, text in enumerate(TEXTS):
            store.put(
                NS, f"t{turn}", {"content": {"text": text, "conversation": episode, "turn": turn}}
            )
        other = {"content": {"text": "train to Porto", "conversation": "c2", "turn": 0}}
        store.put(NS, "other", other)
        found = store.search(NS, query="train tickets", limit=5)
    return [(item.key, round(item.score or 0.0, 5)) for item in found]


@pytest.mark.parametrize("episode", ["", {"id": 1}, [1, 2]], ids=["empty", "object", "list"])
def test_postgres_ranks_items_without_an_episode_like_the_embedded_store(
    episode: Any, tmp_path: Path
) -> None:
    embedded = ranking("embedded", tmp_path / "e", episode)
    assert ranking("postgres", tmp_path / "p", episode) == embedded
