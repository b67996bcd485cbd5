"""The embedded store and PostgreSQL rank a fixed corpus alike: same top 10 for >= 95% of
queries (both compute the same BM25 and cosines, and fuse them with the same code)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reverie.cli.conversation import Message, conversation_id
from reverie.cli.episodes import EPISODE_INDEX_FIELDS, episode_key, episode_values, store_episodes
from reverie.core.ports import NamespaceSearch
from reverie.ledger import port_for
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import hashing_index
from tests.store_factories import FACTORIES

NS = ("agree", "u1")
WORDS = [
    "garden",
    "puppy",
    "shelter",
    "adopt",
    "violin",
    "concert",
    "beach",
    "sunrise",
    "painting",
    "camping",
    "mountain",
    "lake",
    "recipe",
    "pasta",
    "marathon",
    "training",
    "bakery",
    "cake",
    "museum",
    "photo",
    "guitar",
    "lesson",
    "friend",
    "sister",
    "birthday",
    "party",
    "school",
    "book",
    "library",
    "hike",
    "tent",
    "kayak",
    "river",
    "snow",
    "ski",
    "trip",
    "city",
]
SPEAKERS = ["Ana", "Ben", "Caro"]


def corpus() -> list[list[Message]]:
    rng = random.Random(7)
    chats = []
    for day in range(30):
        chat = []
        for turn in range(12):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
            chat.append(
                Message(
                    role="user" if turn % 2 == 0 else "assistant",
                    content=f"{words} ({day}.{turn})",
                    name=SPEAKERS[(day + turn) % 3],
                    created_at=f"2024-03-{day % 28 + 1:02d}T10:00:00Z",
                )
            )
        chats.append(chat)
    return chats


def queries() -> list[str]:
    rng = random.Random(11)
    found = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))) for _ in range(50)]
    return found + [f"what did {s} say about the {rng.choice(WORDS)}" for s in SPEAKERS * 4]


def top_hits(kind: str, tmp_path: Path) -> list[list[tuple[str, float | None]]]:
    with FACTORIES[kind](tmp_path, hashing_index(dims=64)) as store:
        for chat in corpus():
            store_episodes(store, NS, chat)
        port = port_for(store)
        results = port.batch([NamespaceSearch(NS, query=q, limit=10) for q in queries()])
    return [[(item.key, item.score) for item in found] for found in results]  # type: ignore[union-attr]


def alike(a: list[tuple[str, float | None]], b: list[tuple[str, float | None]]) -> bool:
    """The same items in the same order, with the same scores (float32 against float8)."""
    return [k for k, _ in a] == [k for k, _ in b] and all(
        x == y or (x is not None and y is not None and abs(x - y) < 1e-5)
        for (_, x), (_, y) in zip(a, b, strict=True)
    )


@pytest.mark.postgres
def test_postgres_ranks_like_the_embedded_store(tmp_path: Path) -> None:
    embedded = top_hits("embedded", tmp_path / "e")
    postgres = top_hits("postgres", tmp_path / "p")
    # Each memory once per page: candidates two turns apart share the turn between them as a
    # neighbour, which must join the pool once.
    for found in (*embedded, *postgres):
        assert len({key for key, _ in found}) == len(found) == 10, found
    same = sum(
        {k for k, _ in a} == {k for k, _ in b} for a, b in zip(embedded, postgres, strict=True)
    )
    assert same / len(embedded) >= 0.95, f"{same} of {len(embedded)} queries agree"
    # Stronger than the sets: the whole page, in order and scored alike (all 62 today).
    ordered = sum(alike(a, b) for a, b in zip(embedded, postgres, strict=True))
    assert ordered / len(embedded) >= 0.95, f"{ordered} of {len(embedded)} pages agree"


def test_fractional_positions_rank_like_whole_ones(tmp_path: Path) -> None:
    """The embedded store finds neighbours in arrays when positions are whole numbers and by
    lookup otherwise; shifting every position by a half keeps adjacency, so the rankings (and
    scores) must be the same."""
    found: list[list[tuple[str, float | None]]] = []
    for shift in (0.0, 0.5):
        with EmbeddedStore(tmp_path / f"{shift}.db", index=hashing_index(dims=64)) as store:
            for chat in corpus():
                episode = conversation_id(chat)
                for turn, value in episode_values(chat).items():
                    value["content"]["turn"] = turn + shift
                    key = episode_key(episode, turn)
                    store.put(NS, key, value, index=EPISODE_INDEX_FIELDS)
            results = port_for(store).batch(
                [NamespaceSearch(NS, query=q, limit=20) for q in queries()]
            )
        found.append([(i.key, i.score) for hits in results for i in hits])  # type: ignore[union-attr]
    assert found[0] == found[1]
