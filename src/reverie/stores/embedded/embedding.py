"""Embedding a plan's texts and queries, before any lock or transaction is taken.

A slow or remote model then never holds up other writers, in this process or another.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
from langchain_core.embeddings import Embeddings

from reverie.core.errors import EmbeddingError
from reverie.stores.embedded.rows import Plan
from reverie.stores.embedded.vectors import FloatArray


@dataclass
class Embedded:
    """A plan's vectors: per document text as the model gave it, per query normalised."""

    by_text: dict[str, FloatArray] = field(default_factory=dict)
    queries: dict[str, FloatArray] = field(default_factory=dict)


class Embedder:
    """Runs ``embeddings`` (None: the store has no index) and checks what comes back."""

    def __init__(self, embeddings: Embeddings | None, dims: int) -> None:
        self.embeddings = embeddings
        self.dims = dims

    def embed(self, plan: Plan) -> Embedded:
        model = self.embeddings
        if model is None or not (plan.texts or plan.queries):
            return Embedded()
        try:
            documents = model.embed_documents(plan.texts) if plan.texts else []
            queries = [model.embed_query(q) for q in plan.queries]
        except Exception as exc:
            raise _failed(exc) from exc
        return self._checked(plan, documents, queries)

    async def aembed(self, plan: Plan) -> Embedded:
        model = self.embeddings
        if model is None or not (plan.texts or plan.queries):
            return Embedded()
        try:
            documents = await model.aembed_documents(plan.texts) if plan.texts else []
            queries = list(await asyncio.gather(*(model.aembed_query(q) for q in plan.queries)))
        except Exception as exc:
            raise _failed(exc) from exc
        return self._checked(plan, documents, queries)

    def _checked(
        self, plan: Plan, documents: list[list[float]], queries: list[list[float]]
    ) -> Embedded:
        if len(documents) != len(plan.texts):
            raise EmbeddingError(
                f"The embedding model returned {len(documents)} vectors for {len(plan.texts)} "
                "texts; nothing was written."
            )
        by_text: dict[str, FloatArray] = {}
        if plan.texts:
            matrix = np.asarray(documents, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[1] != self.dims:
                raise EmbeddingError(
                    f"The embedding model returned vectors of shape {matrix.shape}, but the "
                    f"index config says dims={self.dims}; nothing was written. Fix 'dims' in "
                    "the index."
                )
            by_text = dict(zip(plan.texts, matrix, strict=True))
        return Embedded(
            by_text,
            {
                q: np.asarray(v, dtype=np.float32) / (float(np.linalg.norm(v)) or 1.0)
                for q, v in zip(plan.queries, queries, strict=True)
            },
        )


def _failed(exc: Exception) -> EmbeddingError:
    return EmbeddingError(
        f"The embedding model failed ({type(exc).__name__}: {exc}); nothing was written. Check "
        "the model or the index config."
    )
