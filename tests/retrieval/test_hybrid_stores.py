"""Hybrid search on Reverie's two stores: what is embedded and what keyword-indexed, scores that
are cosines, min_score, MMR, episode context, refused options."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.store.base import BaseStore, SearchItem

from reverie import IndexFields, RankingOptions
from reverie.core.errors import InputError
from reverie.core.ports import NamespaceSearch
from reverie.ledger import port_for
from reverie.testing import HashingEmbeddings, hashing_index
from tests.store_factories import FACTORIES

NS = ("docs", "u1")
EMBEDDER = HashingEmbeddings(64)


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_store(backend: str, tmp_path: Path, **index: Any) -> Any:
    config: dict[str, Any] = {**hashing_index(), **index}
    return FACTORIES[backend](tmp_path, config)  # type: ignore[arg-type]


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[BaseStore]:
    with open_store(backend, tmp_path, fields=["text"]) as opened:
        yield opened


def search(store: BaseStore, query: str, **options: Any) -> list[SearchItem]:
    (found,) = port_for(store).batch([NamespaceSearch(NS, query=query, limit=20, **options)])
    return found  # type: ignore[return-value]


def cosine(query: str, text: str) -> float:
    q = np.asarray(EMBEDDER.embed_query(query))
    d = np.asarray(EMBEDDER.embed_documents([text])[0])
    return float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d)))


TEXTS = {
    "a": "my dog Rex loves long walks in the park",
    "b": "the cat sleeps on the warm windowsill",
    "c": "coffee with oat milk every morning",
    "d": "weekly piano lessons on thursday evening",
    "e": "parrot named Kiwi repeats every word",
}


def test_keyword_only_and_embed_only_fields(store: BaseStore) -> None:
    store.put(
        NS, "k", {"text": "", "notes": "zebra crossing"}, index=IndexFields([], keywords=["notes"])
    )
    store.put(
        NS, "v", {"text": "zebra crossing", "notes": ""}, index=IndexFields(["text"], keywords=[])
    )
    store.put(NS, "n", {"text": "unrelated words here", "notes": "zebra"}, index=False)
    hits = {h.key: h.score for h in search(store, "zebra crossing")}
    # Found by keywords alone: ranked, but with no vector it has no cosine to report.
    assert "k" in hits and hits["k"] is None
    # Embedded only: found by similarity, its score its cosine.
    assert hits["v"] == pytest.approx(cosine("zebra crossing", "zebra crossing"), abs=1e-6)
    ranked = [h.key for h in search(store, "zebra crossing")]
    assert ranked.index("n") == len(ranked) - 1, "unindexed items still come last"
    # Keywords see only their own fields: a word in the embed-only text matches no keyword.
    keyword_only = search(store, "zebra", ranking=RankingOptions.vector_only(), min_score=0.99)
    assert [h.key for h in keyword_only] == []


def test_store_level_keyword_fields(backend: str, tmp_path: Path) -> None:
    with open_store(backend, tmp_path, fields=["title"], keyword_fields=["title", "body"]) as store:
        store.put(NS, "t", {"title": "garden notes", "body": "the marmot ate the lettuce"})
        store.put(NS, "x", {"title": "kitchen notes", "body": "nothing here"})
        hits = search(store, "marmot")
        assert hits[0].key == "t"
        assert hits[0].score == pytest.approx(cosine("marmot", "garden notes"), abs=1e-6)


def test_hybrid_scores_are_cosines(store: BaseStore) -> None:
    for key, text in TEXTS.items():
        store.put(NS, key, {"text": text})
    for query in ("dog Rex park", "oat milk", "piano on thursday", "Kiwi the parrot"):
        hits = search(store, query)
        assert sorted(h.key for h in hits) == sorted(TEXTS)
        for hit in hits:
            assert hit.score == pytest.approx(cosine(query, TEXTS[hit.key]), abs=1e-6)
        plain = store.search(NS, query=query, limit=20)
        assert [(h.key, h.score) for h in plain] == [(h.key, h.score) for h in hits]


def test_min_score_keeps_only_similar_items(store: BaseStore) -> None:
    for key, text in TEXTS.items():
        store.put(NS, key, {"text": text})
    query = "dog Rex loves walks"
    scores = {k: cosine(query, t) for k, t in TEXTS.items()}
    threshold = sorted(scores.values())[-2]  # the two most similar pass
    hits = search(store, query, min_score=threshold - 1e-9)
    assert {h.key for h in hits} == {k for k, s in scores.items() if s >= threshold - 1e-9}
    assert all(h.score is not None and h.score >= threshold - 1e-9 for h in hits)
    assert search(store, query, min_score=1.0) == []


def test_search_options_out_of_range_are_refused(store: BaseStore) -> None:
    store.put(NS, "a", {"text": "x"})
    for options in ({"min_score": 2.0}, {"diversity": -0.1}, {"diversity": math.nan}):
        with pytest.raises(InputError, match="min_score|diversity"):
            search(store, "x", **options)


def test_diversity_spreads_near_duplicates(store: BaseStore) -> None:
    for n in range(3):
        store.put(NS, f"dup{n}", {"text": "hiking boots for the mountain trail"})
    store.put(NS, "other", {"text": "hiking in the rain with a mountain guide"})
    plain = [h.key for h in search(store, "hiking mountain trail boots")]
    assert plain[:3] == ["dup0", "dup1", "dup2"]
    diverse = [h.key for h in search(store, "hiking mountain trail boots", diversity=0.7)]
    assert diverse[0] == "dup0" and diverse[1] == "other"
    assert sorted(diverse) == sorted(plain)


def _turn(episode: str, turn: int, speaker: str, text: str) -> dict[str, Any]:
    return {"kind": "Episode", "content": {"content": text, "speaker": speaker,
                                           "conversation": episode, "turn": turn}}  # fmt: skip


def test_episode_context_lifts_the_reply_after_a_match(store: BaseStore) -> None:
    turns = [
        ("e1", 0, "Ann", "did you ever adopt the puppy from the shelter"),
        ("e1", 1, "Bob", "yes last friday, his name is Biscuit"),
        ("e2", 0, "Ann", "the weather was lovely at the beach"),
        ("e2", 1, "Bob", "yes we swam all afternoon"),
    ]
    index = IndexFields(["content.content"])
    for episode, turn, speaker, text in turns:
        store.put(NS, f"{episode}-{turn}", _turn(episode, turn, speaker, text), index=index)
    question = "adopt puppy shelter"
    with_context = [h.key for h in search(store, question)]
    assert with_context[:2] == ["e1-0", "e1-1"], "the reply follows its question"
    plain = [h.key for h in search(store, question, ranking=RankingOptions.plain())]
    assert plain.index("e1-1") >= with_context.index("e1-1")
    # A named speaker's turns rank higher among equals.
    named = [h.key for h in search(store, "what did Bob say yes")]
    assert named[0] in {"e1-1", "e2-1"}


def test_a_turn_between_two_matches_is_found_once(store: BaseStore) -> None:
    # Turns 0 and 2 match; turn 1 matches nothing, and more than a pool's worth of other
    # memories (each sharing one word) beat it on both rankings, so it joins the pool only as
    # the neighbour of both matches: once, and ranked on its episode's strength.
    turns = [
        "the marathon training plan starts in may",
        "sounds tough, good luck",
        "marathon training again, ten miles today",
        "what are you cooking tonight",
    ]
    index = IndexFields(["content.content"])
    for turn, text in enumerate(turns):
        store.put(NS, f"t{turn}", _turn("e1", turn, "Ann", text), index=index)
    for n in range(120):
        word = ("marathon", "training")[n % 2]
        text = f"{word} note {n} about shoes socks water"
        store.put(NS, f"d{n}", _turn(f"d{n}", 0, "Bob", text), index=index)
    keys = [h.key for h in search(store, "marathon training")]
    assert len(keys) == len(set(keys)) == 20, keys
    assert "t1" in keys


def test_a_question_naming_a_day_finds_the_turns_of_that_day(store: BaseStore) -> None:
    from reverie.cli.conversation import Message
    from reverie.cli.episodes import store_episodes

    # The same walk told on three days; the day the question names was stored last, so only
    # the day itself can lift its turn above the others.
    days = {"2023-07-03": "hello", "2023-06-13": "good morning", "2023-06-03": "hi again"}
    for day, greeting in days.items():
        said = f"{day}T10:00:00Z"
        store_episodes(
            store,
            NS,
            [
                Message(role="user", name="Ann", content=greeting, created_at=said),
                Message(
                    role="user", name="Ann", content="we went hiking in the hills", created_at=said
                ),  # fmt: skip
            ],
        )
    hits = search(store, "Where did Ann go hiking on 3 June, 2023?")
    walks = [h.value["content"] for h in hits if "hiking" in h.value["content"]["content"]]
    assert len(walks) == 3
    assert walks[0]["time"].startswith("2023-06-03")


def test_storing_a_conversation_again_adds_the_day_to_older_episodes(store: BaseStore) -> None:
    from reverie.cli.conversation import Message
    from reverie.cli.episodes import EPISODE_INDEX_FIELDS, store_episodes

    said = "2023-06-03T10:00:00Z"
    messages = [Message(role="user", name="Ann", content="we went hiking", created_at=said)]
    (key,) = store_episodes(store, NS, messages).added
    # As episodes were stored before they carried the day.
    older = store.get(NS, key).value  # type: ignore[union-attr]
    del older["context"]["when"]
    store.put(NS, key, older, index=EPISODE_INDEX_FIELDS)
    assert store_episodes(store, NS, messages).added == [key]
    assert store.get(NS, key).value["context"]["when"] == "3 June 2023"  # type: ignore[union-attr]
