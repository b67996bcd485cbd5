"""Retrieval beyond one similarity: keyword terms, hybrid fusion with episode context, MMR
diversity and pluggable rerankers, shared by every store."""

from reverie.core.indexing import EpisodeFields, IndexFields, RankingOptions
from reverie.retrieval.rerank import CompressorReranker, LLMReranker, Reranker, ScoreReranker

__all__ = [
    "CompressorReranker",
    "EpisodeFields",
    "IndexFields",
    "LLMReranker",
    "RankingOptions",
    "Reranker",
    "ScoreReranker",
]
