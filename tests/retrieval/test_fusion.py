"""The ranking features, one at a time, on hand-made pools."""

from __future__ import annotations

import numpy as np
import pytest

from reverie import EpisodeFields, RankingOptions
from reverie.core.errors import ConfigurationError
from reverie.retrieval.diversity import diversify
from reverie.retrieval.fusion import Pool, named_speakers, neighbour_cosines, rank_pool
from reverie.retrieval.terms import terms
from reverie.stores.embedded.episodes import NamespaceEpisodes


def pool(cosine: list[float], keyword: list[float], episode: list[str | None], position: list[float],
         speaker: list[str | None]) -> Pool:  # fmt: skip
    return Pool(
        cosine=np.asarray(cosine, dtype=np.float64),
        keyword=np.asarray(keyword, dtype=np.float64),
        order=np.arange(len(cosine), dtype=np.int64),
        episode=episode,
        position=np.asarray(position, dtype=np.float64),
        speaker=speaker,
    )


def test_neighbours_are_adjacent_positions_of_one_episode() -> None:
    p = pool([0.9, 0.1, 0.5, np.nan], [0, 0, 0, 0], ["e", "e", "f", "e"], [1, 2, 2, 9], [None] * 4)
    assert neighbour_cosines(p).tolist() == [0.1, 0.9, 0.0, 0.0]


def test_neighbours_at_fractional_positions_and_shared_positions() -> None:
    # Fractional positions are matched exactly (+-1), and every item at a neighbouring
    # position counts, not only the last one listed there.
    fractional = pool([0.9, 0.2, 0.4], [0] * 3, ["e", "e", "e"], [0.5, 1.5, 2.0], [None] * 3)
    assert neighbour_cosines(fractional).tolist() == [0.2, 0.9, 0.0]
    shared = pool([0.3, 0.7, 0.6, -0.5], [0] * 4, ["e", "e", "e", "f"], [1, 2, 2, 1], [None] * 4)
    assert neighbour_cosines(shared).tolist() == [0.7, 0.3, 0.3, 0.0]


def test_episode_codes_rank_like_episode_names() -> None:
    rng = np.random.default_rng(4)
    names = [None, "a", "b", "c"]
    episode = [names[i] for i in rng.integers(0, 4, 300)]
    cosine = rng.random(300).tolist()
    keyword = np.where(rng.random(300) < 0.3, rng.random(300), 0.0).tolist()
    position = rng.integers(0, 40, 300).astype(float).tolist()
    speaker = [["Ann", "Bo", None][i] for i in rng.integers(0, 3, 300)]
    named = pool(cosine, keyword, episode, position, speaker)
    coded = pool(cosine, keyword, episode, position, speaker)
    coded.episode = np.asarray([-1 if e is None else names.index(e) for e in episode])
    options = RankingOptions()
    assert rank_pool(named, "What did Ann say?", options).tolist() == (
        rank_pool(coded, "What did Ann say?", options).tolist()
    )


def test_plain_options_are_weighted_reciprocal_rank_fusion() -> None:
    p = pool([0.9, 0.8, 0.1], [0.0, 0.0, 5.0], [None] * 3, [np.nan] * 3, [None] * 3)
    assert rank_pool(p, "q", RankingOptions.plain()).tolist() == [2, 0, 1]  # in both lists
    assert rank_pool(p, "q", RankingOptions.vector_only()).tolist() == [0, 1, 2]


def test_named_speaker_and_episode_bonus() -> None:
    assert named_speakers("What did caroline paint?", ["Caroline", "Mel", None]) == {"Caroline"}
    p = pool([0.5, 0.5], [0, 0], [None, None], [np.nan] * 2, ["Mel", "Caroline"])
    assert rank_pool(p, "did Caroline go", RankingOptions()).tolist() == [1, 0]
    lonely = pool([0.9, 0.8, 0.7, 0.6], [0] * 4, ["a", "b", "b", "c"], [1, 5, 9, 1], [None] * 4)
    options = RankingOptions(neighbour_weight=0, speaker_weight=0, episode_weight=1.0)
    assert rank_pool(lonely, "q", options).tolist()[:3] == [0, 1, 2]


def test_mmr_skips_a_duplicate() -> None:
    vectors = np.asarray([[1, 0], [1, 0], [0.6, 0.8]], dtype=np.float32)
    assert diversify(vectors, 0.0, 3) == [0, 1, 2]
    assert diversify(vectors, 0.6, 3) == [0, 2, 1]


def test_terms_are_stemmed_without_stop_words() -> None:
    assert terms("She painted the Paintings; dogs!") == ["paint", "paint", "dog"]


def test_bad_options_say_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="keyword_weight"):
        RankingOptions(keyword_weight=-1)
    with pytest.raises(ConfigurationError, match="episode_fields"):
        EpisodeFields(episode="content[0]")
    with pytest.raises(ConfigurationError, match="Unknown episode_fields"):
        EpisodeFields.from_config({"session": "x"})


def test_episode_arrays_wait_for_a_search_without_a_write_before_them() -> None:
    episodes = NamespaceEpisodes()
    episodes.add(1, ("e", 0.0, "Ana"))
    assert episodes.arrays() is None  # right after a write: the lookup path
    built = episodes.arrays()
    assert built is not None and built.ids.tolist() == [1]
    assert episodes.arrays() is built  # kept until the next write
    episodes.remove(1)
    assert episodes.arrays() is None
