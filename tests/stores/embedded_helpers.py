"""Typed helpers shared by the embedded store's tests."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig, Result, SearchItem

from reverie.testing import hashing_index


def indexed(embed: Embeddings | None = None, dims: int = 64) -> IndexConfig:
    """The hashing embedder's index config (``embed`` replaces the embedder)."""
    index = hashing_index(dims=dims)
    if embed is not None:
        index["embed"] = embed
    return index


def found_keys(result: Result) -> list[str]:
    """The keys of a search result, in its order."""
    assert isinstance(result, list)
    return [i.key for i in result if isinstance(i, SearchItem)]
