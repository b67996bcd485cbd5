"""What a store indexes and how hybrid search ranks: typed settings shared by every backend.

- :class:`IndexFields`: a put's own choice of which fields are embedded and which are
  keyword-indexed (``store.put(ns, key, value, index=IndexFields(...))``). It *is* the list of
  embedded paths, so a LangGraph store that knows nothing of it embeds exactly those.
- :class:`EpisodeFields`: where a memory keeps its episode, position, speaker and time, the
  structured context ranking features read (``reverie ingest`` writes episodes this way).
- :class:`RankingOptions`: the weights of the ranking features; defaults chosen on the tuning
  half of LoCoMo (conversations 0-4) only, see ``benchmarks/locomo_retrieval.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import IndexConfig

from reverie.core.errors import ConfigurationError

_SIMPLE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class IndexFields(list[str]):
    """Per-put index choice: embed the texts at ``embed`` (the list itself), keyword-index the
    texts at ``keywords`` (default: the same paths).

    ``IndexFields(["content.content"], keywords=["content.content", "context.keywords"])``
    keeps a memory's embedding about its own words while keyword search also sees its context;
    ``IndexFields([], keywords=[...])`` makes an item found by keywords only.
    """

    def __init__(self, embed: Sequence[str], *, keywords: Sequence[str] | None = None) -> None:
        if isinstance(embed, str) or isinstance(keywords, str):
            raise ConfigurationError(
                "IndexFields takes lists of paths, e.g. IndexFields(['content.content'], "
                "keywords=['content.content', 'context.keywords'])."
            )
        super().__init__(embed)
        self.keywords: list[str] = list(embed if keywords is None else keywords)

    def __repr__(self) -> str:
        return f"IndexFields({list(self)!r}, keywords={self.keywords!r})"


@dataclass(frozen=True)
class EpisodeFields:
    """Dotted paths in a value to a memory's episode id, position, speaker and time.

    The defaults are where Reverie's episodic memories keep them (``reverie.cli.episodes``);
    a memory without an episode id takes no part in episode features.
    """

    episode: str = "content.conversation"
    position: str = "content.turn"
    speaker: str = "content.speaker"

    def __post_init__(self) -> None:
        for name in ("episode", "position", "speaker"):
            path = getattr(self, name)
            if not isinstance(path, str) or not _SIMPLE_PATH.match(path):
                raise ConfigurationError(
                    f"episode_fields[{name!r}] must be a dotted path of names such as "
                    f"'content.{name}', got {path!r}."
                )

    @property
    def paths(self) -> tuple[str, str, str]:
        return (self.episode, self.position, self.speaker)

    def of(self, value: Mapping[str, Any]) -> tuple[str | None, float | None, str | None]:
        """(episode, position, speaker) of ``value``; None where missing or of the wrong type."""
        episode, position, speaker = (_at(value, p) for p in self.paths)
        return (
            None if episode in (None, "") or isinstance(episode, (dict, list)) else str(episode),
            _number(position),
            speaker if isinstance(speaker, str) and speaker else None,
        )

    @classmethod
    def from_config(cls, given: Mapping[str, str] | EpisodeFields | None) -> EpisodeFields:
        if given is None:
            return cls()
        if isinstance(given, EpisodeFields):
            return given
        unknown = set(given) - {"episode", "position", "speaker"}
        if unknown:
            raise ConfigurationError(
                f"Unknown episode_fields {sorted(unknown)}; use 'episode', 'position', 'speaker'."
            )
        return cls(**dict(given))


def _at(value: Mapping[str, Any], path: str) -> Any:
    current: Any = value
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _number(found: Any) -> float | None:
    if isinstance(found, bool) or not isinstance(found, (int, float)):
        return None
    return float(found)


@dataclass(frozen=True)
class RankingOptions:
    """How hybrid search fuses its signals. Every weight 0 gives plain reciprocal rank fusion.

    - ``rrf_k``: reciprocal rank fusion constant (smaller trusts the top of each list more).
    - ``keyword_weight``: weight of the keyword (BM25) ranking against the vector ranking.
    - ``neighbour_weight``: a memory's similarity is raised by this share of its best adjacent
      memory's (same episode, position +-1): an answer often follows the turn that matches.
    - ``speaker_weight``: memories whose speaker is named in the query score ``1 +`` this times
      higher.
    - ``episode_weight``: share of the best fused score of a memory's episode added to it.
    - ``pool``: candidates taken from each ranking (at least; more for deep pages).
    - ``common_word_share``: words found in at least this share of the memories searched are
      left out of the text embedded for the query (``reverie.retrieval.query_text``); None
      embeds the query whole.
    """

    rrf_k: float = 20.0
    keyword_weight: float = 1.5
    neighbour_weight: float = 0.75
    speaker_weight: float = 1.0
    episode_weight: float = 0.5
    pool: int = 100
    common_word_share: float | None = 0.6

    def __post_init__(self) -> None:
        if not self.rrf_k > 0:
            raise ConfigurationError(f"rrf_k must be positive, got {self.rrf_k!r}.")
        for name in ("keyword_weight", "neighbour_weight", "speaker_weight", "episode_weight"):
            weight = getattr(self, name)
            if not isinstance(weight, (int, float)) or not 0 <= weight <= 100:
                raise ConfigurationError(f"{name} must be a number from 0 to 100, got {weight!r}.")
        if not isinstance(self.pool, int) or self.pool < 1:
            raise ConfigurationError(f"pool must be a positive integer, got {self.pool!r}.")
        share = self.common_word_share
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1
        ):
            raise ConfigurationError(
                f"common_word_share must be a share above 0 and at most 1 (or None to embed "
                f"queries whole), got {share!r}."
            )

    @property
    def vector_share(self) -> float | None:
        """The ``common_word_share`` that applies: None when no keyword ranking sees the query."""
        return self.common_word_share if self.keyword_weight else None

    @classmethod
    def plain(cls) -> RankingOptions:
        """Reciprocal rank fusion of the two rankings only, no context features."""
        return cls(
            keyword_weight=1.0,
            neighbour_weight=0.0,
            speaker_weight=0.0,
            episode_weight=0.0,
            common_word_share=None,
        )

    @classmethod
    def vector_only(cls) -> RankingOptions:
        """Rank by cosine similarity alone (what LangGraph's stores do)."""
        return cls(keyword_weight=0.0, neighbour_weight=0.0, speaker_weight=0.0, episode_weight=0.0)


class ReverieIndexConfig(IndexConfig, total=False):
    """LangGraph's index config plus what Reverie's stores read from it.

    ``fields``: paths whose texts are embedded (LangGraph's meaning; default the whole value).
    ``keyword_fields``: paths whose texts keyword search sees (default: ``fields``).
    ``episode_fields``: where memories keep episode, position, speaker (see :class:`EpisodeFields`).
    """

    keyword_fields: list[str]
    episode_fields: dict[str, str]


def default_fields(index: Mapping[str, Any] | None) -> IndexFields | None:
    """The fields a put without ``index=`` is indexed by under the store config ``index``, as
    Reverie's stores read it (None: no index config, nothing is indexed)."""
    if not index:
        return None
    fields = index.get("fields") or ["$"]
    embed = [fields] if isinstance(fields, str) else list(fields)
    keywords = (index["keyword_fields"] or []) if "keyword_fields" in index else None
    return IndexFields(embed, keywords=keywords)


__all__ = [
    "EpisodeFields",
    "IndexFields",
    "RankingOptions",
    "ReverieIndexConfig",
    "default_fields",
]
