"""A tiny deterministic embedder for tests: hashed word counts, L2-normalised.

Texts that share words get similar vectors, which is enough to exercise search and ranking
without a model. Never use it for real retrieval.
"""

from __future__ import annotations

import hashlib
import math
import re

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig

_WORD = re.compile(r"\w+", re.UNICODE)


def _bucket(word: str, dims: int) -> int:
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % dims


class HashingEmbeddings(Embeddings):
    """Bag-of-words vectors of ``dims`` dimensions (default 64)."""

    def __init__(self, dims: int = 64) -> None:
        self.dims = dims

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for word in _WORD.findall(text.lower()):
            vector[_bucket(word, self.dims)] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def hashing_index(dims: int = 64, fields: list[str] | None = None) -> IndexConfig:
    """A LangGraph ``index`` config using :class:`HashingEmbeddings`."""
    index: IndexConfig = {"dims": dims, "embed": HashingEmbeddings(dims)}
    if fields is not None:
        index["fields"] = fields
    return index
