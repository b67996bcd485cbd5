"""Retrieval beyond one similarity: keyword terms, hybrid fusion with episode context, MMR
diversity and pluggable rerankers, shared by every store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reverie.core.indexing import EpisodeFields, IndexFields, RankingOptions

if TYPE_CHECKING:
    from reverie.retrieval.rerank import (
        CompressorReranker,
        LLMReranker,
        Reranker,
        ScoreReranker,
    )

# The rerankers build on LangChain's model and document classes; the stores import this package
# for its keyword terms, and a command that only lists memories should not load a model stack.
_RERANKERS = frozenset({"CompressorReranker", "LLMReranker", "Reranker", "ScoreReranker"})


def __getattr__(name: str) -> Any:
    if name in _RERANKERS:
        from reverie.retrieval import rerank

        return vars(rerank)[name]
    raise AttributeError(f"module 'reverie.retrieval' has no attribute {name!r}")


__all__ = [
    "CompressorReranker",
    "EpisodeFields",
    "IndexFields",
    "LLMReranker",
    "RankingOptions",
    "Reranker",
    "ScoreReranker",
]
