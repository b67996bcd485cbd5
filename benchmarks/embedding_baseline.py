"""The numpy encoder as it was before the bfloat16 path and cache-sized batches, kept unchanged.

``benchmarks.embedding_bench`` runs it side by side with today's ``LocalMiniLMEmbeddings`` so
that every run shows what the changes gained on the same machine at the same moment. It reads
the same cached weights and tokenizer; nothing in ``reverie`` uses this module.

Float32 throughout; batches of 32 texts sorted by length, attention scores capped at ~32 MB.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from reverie.embeddings.weights import Array, BertWeights, LayerWeights

# Abramowitz & Stegun 7.1.26: erfc(z) ~= poly(t) * exp(-z^2), t = 1 / (1 + p z), z >= 0,
# with absolute error below 1.5e-7 -- under float32 noise for the GELU below.
_P = np.float32(0.3275911)
_A = tuple(
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_INV_SQRT2 = np.float32(1.0 / np.sqrt(2.0))
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_MASKED = np.float32(-1e9)


def _erfc_into(z: Array, out: Array, scratch: Array) -> Array:
    """``out = erfc(z)`` for ``z >= 0`` (``z`` is overwritten)."""
    np.multiply(z, z, out=scratch)
    np.negative(scratch, out=scratch)
    np.exp(scratch, out=scratch)  # exp(-z^2)
    z *= _P
    z += _ONE
    np.reciprocal(z, out=z)  # t
    np.multiply(z, _A[4], out=out)
    for coefficient in (_A[3], _A[2], _A[1], _A[0]):
        out += coefficient
        out *= z
    out *= scratch
    return out


def erf(x: NDArray[np.floating]) -> Array:
    """Vectorised error function (absolute error < 1.5e-7); numpy has none built in."""
    x32 = np.asarray(x, dtype=np.float32)
    z = np.abs(x32)
    erfc = _erfc_into(z, np.empty_like(z), np.empty_like(z))
    np.subtract(_ONE, erfc, out=erfc)
    return np.copysign(erfc, x32)


def gelu_(x: Array, scratch: tuple[Array, Array, Array] | None = None) -> Array:
    """Exact (erf-based) GELU, ``x * Phi(x)``, computed in place on ``x`` and returned."""
    z, tail, tmp = scratch if scratch is not None else tuple(np.empty_like(x) for _ in range(3))
    np.abs(x, out=z)
    z *= _INV_SQRT2
    _erfc_into(z, tail, tmp)
    tail *= _HALF  # Phi(-|x|)
    # Phi(x) = 0.5 + sign(x) * (0.5 - Phi(-|x|))
    np.subtract(_HALF, tail, out=tail)
    np.copysign(tail, x, out=tail)
    tail += _HALF
    x *= tail
    return x


def layer_norm_(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis of a 2-D array, in place."""
    x -= x.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)
    variance /= np.float32(x.shape[1])
    variance += np.float32(eps)
    np.sqrt(variance, out=variance)
    x /= variance[:, None]
    x *= weight
    x += bias
    return x


class Workspace:
    """Scratch buffers for batches of up to ``max_tokens`` tokens (batch * padded length)."""

    def __init__(self, max_tokens: int, max_scores: int, hidden: int, intermediate: int) -> None:
        self.max_tokens = max_tokens
        self.max_scores = max_scores
        self._hidden = np.empty((4, max_tokens * hidden), dtype=np.float32)
        self._qkv = np.empty(max_tokens * 3 * hidden, dtype=np.float32)
        self._inner = np.empty((4, max_tokens * intermediate), dtype=np.float32)
        self._scores = np.empty(max_scores, dtype=np.float32)

    @classmethod
    def for_model(cls, weights: BertWeights, max_tokens: int, max_scores: int) -> Workspace:
        intermediate = weights.layers[0].ffn_in_w.shape[1] if weights.layers else 1
        return cls(max_tokens, max_scores, weights.hidden_size, int(intermediate))

    def hidden(self, i: int, n: int, width: int) -> Array:
        return self._hidden[i, : n * width].reshape(n, width)

    def qkv(self, n: int, width: int) -> Array:
        return self._qkv[: n * width].reshape(n, width)

    def inner(self, i: int, n: int, width: int) -> Array:
        return self._inner[i, : n * width].reshape(n, width)

    def scores(self, shape: tuple[int, int, int, int]) -> Array:
        size = shape[0] * shape[1] * shape[2] * shape[3]
        return self._scores[:size].reshape(shape)


def attention_scores_size(batch: int, length: int, heads: int) -> int:
    return batch * heads * length * length


def _attention(
    x: Array, layer: LayerWeights, bias: Array, shape: tuple[int, int, int], ws: Workspace
) -> Array:
    batch, length, heads = shape
    n, hidden = x.shape
    head_dim = hidden // heads
    qkv = np.matmul(x, layer.qkv_w, out=ws.qkv(n, 3 * hidden))
    qkv += layer.qkv_b
    # (batch*length, 3*hidden) -> (3, batch, heads, length, head_dim), as strided views
    qkv5 = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    query, key, value = qkv5[0], qkv5[1], qkv5[2]
    scores = np.matmul(
        query, key.transpose(0, 1, 3, 2), out=ws.scores((batch, heads, length, length))
    )
    scores += bias  # the query is pre-scaled by 1/sqrt(head_dim)
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = ws.hidden(1, n, hidden)
    # Write (batch, heads, length, head_dim) results straight into (batch, length, hidden) order.
    np.matmul(
        scores, value, out=context.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)
    )
    out = np.matmul(context, layer.attn_out_w, out=ws.hidden(2, n, hidden))
    out += layer.attn_out_b
    return out


def encode_batch(
    weights: BertWeights,
    ids: NDArray[np.int64],
    mask: NDArray[np.bool_],
    workspace: Workspace | None = None,
) -> Array:
    """Sentence embeddings ``(batch, hidden)``, unit length, for padded token ``ids`` and ``mask``."""
    batch, length = ids.shape
    n = batch * length
    hidden = weights.hidden_size
    heads = weights.num_heads
    eps = weights.layer_norm_eps
    ws = workspace or Workspace.for_model(weights, n, attention_scores_size(batch, length, heads))
    if n > ws.max_tokens or attention_scores_size(batch, length, heads) > ws.max_scores:
        raise ValueError("workspace too small for this batch")

    x = ws.hidden(0, n, hidden)
    np.take(weights.word_embeddings, ids.reshape(-1), axis=0, out=x)
    x.reshape(batch, length, hidden)[:] += weights.position_embeddings[:length]
    x += weights.token_type_embedding
    layer_norm_(x, weights.embed_norm_w, weights.embed_norm_b, eps)
    # Additive attention bias: 0 for real tokens, a huge negative number for padding.
    bias = np.where(mask, np.float32(0.0), _MASKED).astype(np.float32)[:, None, None, :]
    for layer in weights.layers:
        attended = _attention(x, layer, bias, (batch, length, heads), ws)
        x += attended
        layer_norm_(x, layer.attn_norm_w, layer.attn_norm_b, eps)
        width = layer.ffn_in_w.shape[1]
        inner = np.matmul(x, layer.ffn_in_w, out=ws.inner(0, n, width))
        inner += layer.ffn_in_b
        gelu_(inner, (ws.inner(1, n, width), ws.inner(2, n, width), ws.inner(3, n, width)))
        out = np.matmul(inner, layer.ffn_out_w, out=ws.hidden(3, n, hidden))
        out += layer.ffn_out_b
        x += out
        layer_norm_(x, layer.ffn_norm_w, layer.ffn_norm_b, eps)
    tokens = x.reshape(batch, length, hidden)
    token_weights = mask.astype(np.float32)
    pooled: Array = np.einsum("blh,bl->bh", tokens, token_weights)
    pooled /= np.maximum(token_weights.sum(axis=1, keepdims=True), np.float32(1e-9))
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
    return pooled


# -- batching, as LocalMiniLMEmbeddings._embed did it ------------------------------------------

BATCH_SIZE = 32
_MAX_SCORES = 8 * 1024 * 1024


def embed_before(tokenizer: Any, weights: BertWeights, texts: list[str]) -> Array:
    """Unit vectors ``(len(texts), hidden)`` computed exactly as before, in input order."""
    encodings = [tokenizer.encode(text) for text in texts]
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    order = np.argsort(lengths, kind="stable")
    batches = _batches(order, lengths, weights.num_heads)
    workspace = Workspace.for_model(
        weights,
        max_tokens=max(len(chunk) * width for chunk, width in batches),
        max_scores=max(
            attention_scores_size(len(chunk), width, weights.num_heads) for chunk, width in batches
        ),
    )
    result = np.empty((len(texts), weights.hidden_size), dtype=np.float32)
    for chunk, width in batches:
        ids, mask = _padded([encodings[i].ids for i in chunk], width)
        result[chunk] = encode_batch(weights, ids, mask, workspace)
    return result


def _batches(
    order: NDArray[np.intp], lengths: NDArray[np.int64], heads: int
) -> list[tuple[NDArray[np.intp], int]]:
    batches = []
    start = 0
    while start < len(order):
        rows = min(BATCH_SIZE, len(order) - start)
        width = int(lengths[order[start + rows - 1]])
        while rows > 1 and attention_scores_size(rows, width, heads) > _MAX_SCORES:
            rows //= 2
            width = int(lengths[order[start + rows - 1]])
        batches.append((order[start : start + rows], width))
        start += rows
    return batches


def _padded(token_ids: list[list[int]], width: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    ids = np.zeros((len(token_ids), width), dtype=np.int64)
    mask = np.zeros((len(token_ids), width), dtype=bool)
    for row, row_ids in enumerate(token_ids):
        ids[row, : len(row_ids)] = row_ids
        mask[row, : len(row_ids)] = True
    return ids, mask
