"""A BERT encoder forward pass in numpy float32, with mean pooling and L2 normalisation.

This reproduces what sentence-transformers computes for all-MiniLM-L6-v2 (BertModel, mean pooling
over real tokens, then ``normalize``) without torch. Every step works on a right-padded batch
``(batch, length)``; padded positions are excluded from attention and from pooling. A batch
whose texts all have the same length (always so for a single query) skips the padding work.

The dense layers come from :mod:`reverie.embeddings.projections` (float32, bfloat16 or int8); the rest
(attention, GELU, LayerNorm) is float32. Large temporaries are written into a reusable
:class:`Workspace` (``out=`` everywhere) because fresh multi-megabyte arrays cost page faults
that, on small machines, take longer than the arithmetic itself.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from reverie.embeddings.projections import Encoder, LayerProjections, Scratch
from reverie.embeddings.weights import Array, BertWeights

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
_TANH_SCALE = np.float32(np.sqrt(2.0 / np.pi))
_TANH_CUBIC = np.float32(0.044715 * np.sqrt(2.0 / np.pi))


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


def gelu_tanh_(x: Array, scratch: tuple[Array, Array, Array] | None = None) -> Array:
    """GELU's tanh approximation (within 3e-4 of :func:`gelu_`) in 8 passes instead of ~20.

    For the int8 encoder, whose rounding is far coarser than this approximation.
    """
    t = scratch[0] if scratch is not None else np.empty_like(x)
    np.multiply(x, x, out=t)
    t *= _TANH_CUBIC
    t += _TANH_SCALE
    t *= x  # sqrt(2/pi) * (x + 0.044715 x^3)
    np.tanh(t, out=t)
    t += _ONE
    x *= t
    x *= _HALF
    return x


def gelu_blocked_(
    x: Array, scratch: tuple[Array, Array, Array], approximate: bool = False
) -> Array:
    """:func:`gelu_` (or :func:`gelu_tanh_`) on ``x`` in blocks of ``len(scratch[0])`` rows.

    GELU makes ~20 passes over its input; a block that stays in the CPU's L2 cache makes each
    pass cheap, where passes over a whole (tokens, 1536) batch would stream from memory.
    """
    rows = len(scratch[0])
    gelu = gelu_tanh_ if approximate else gelu_
    for start in range(0, len(x), rows):
        block = x[start : start + rows]
        count = len(block)
        gelu(block, (scratch[0][:count], scratch[1][:count], scratch[2][:count]))
    return x


def layer_norm_(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis of a 2-D array, in place."""
    # The ufuncs' own reductions: ndarray.mean/max/sum wrap them in Python code that, for the
    # few rows of a query, costs as much as the arithmetic.
    mean = np.add.reduce(x, axis=1, keepdims=True)
    mean /= x.shape[1]  # as ndarray.mean divides, for identical rounding
    x -= mean
    variance = np.einsum("ij,ij->i", x, x)
    variance /= np.float32(x.shape[1])
    variance += np.float32(eps)
    np.sqrt(variance, out=variance)
    x /= variance[:, None]
    x *= weight
    x += bias
    return x


# Rows of the (tokens, intermediate) GELU input processed at a time: 3 scratch blocks of 32 x 1536
# floats plus the block itself (~800 KB) stay within a 1-2 MB L2 cache.
GELU_BLOCK_ROWS = 32


class Workspace:
    """Scratch buffers for batches of up to ``max_tokens`` tokens (batch * padded length)."""

    def __init__(
        self,
        max_tokens: int,
        max_scores: int,
        hidden: int,
        intermediate: int,
        scratch_bytes_per_token: int,
    ) -> None:
        self.max_tokens = max_tokens
        self.max_scores = max_scores
        self._hidden = np.empty((3, max_tokens * hidden), dtype=np.float32)
        self._qkv = np.empty(max_tokens * 3 * hidden, dtype=np.float32)
        self._inner = np.empty(max_tokens * intermediate, dtype=np.float32)
        block = min(GELU_BLOCK_ROWS, max_tokens)
        self.gelu_scratch: tuple[Array, Array, Array] = (
            np.empty((block, intermediate), dtype=np.float32),
            np.empty((block, intermediate), dtype=np.float32),
            np.empty((block, intermediate), dtype=np.float32),
        )
        self._scores = np.empty(max_scores, dtype=np.float32)
        self.staging: Scratch = np.empty(max_tokens * scratch_bytes_per_token, dtype=np.uint8)

    @classmethod
    def for_encoder(cls, encoder: Encoder, max_tokens: int, max_scores: int) -> Workspace:
        return cls(
            max_tokens,
            max_scores,
            encoder.weights.hidden_size,
            encoder.intermediate_size,
            encoder.scratch_bytes_per_token,
        )

    def hidden(self, i: int, n: int, width: int) -> Array:
        return self._hidden[i, : n * width].reshape(n, width)

    def qkv(self, n: int, width: int) -> Array:
        return self._qkv[: n * width].reshape(n, width)

    def inner(self, n: int, width: int) -> Array:
        return self._inner[: n * width].reshape(n, width)

    def scores(self, shape: tuple[int, int, int, int]) -> Array:
        size = shape[0] * shape[1] * shape[2] * shape[3]
        return self._scores[:size].reshape(shape)


def attention_scores_size(batch: int, length: int, heads: int) -> int:
    return batch * heads * length * length


def _attention(
    x: Array,
    layer: LayerProjections,
    bias: Array | None,
    shape: tuple[int, int, int],
    ws: Workspace,
) -> Array:
    batch, length, heads = shape
    n, hidden = x.shape
    head_dim = hidden // heads
    qkv = layer.qkv(x, ws.qkv(n, 3 * hidden), ws.staging)
    # (batch*length, 3*hidden) -> (3, batch, heads, length, head_dim), as strided views
    qkv5 = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    query, key, value = qkv5[0], qkv5[1], qkv5[2]  # the query is pre-scaled by 1/sqrt(head_dim)
    scores = np.matmul(
        query, key.transpose(0, 1, 3, 2), out=ws.scores((batch, heads, length, length))
    )
    if bias is not None:
        scores += bias
    scores -= np.maximum.reduce(scores, axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= np.add.reduce(scores, axis=-1, keepdims=True)
    context = ws.hidden(1, n, hidden)
    # Write (batch, heads, length, head_dim) results straight into (batch, length, hidden) order.
    np.matmul(
        scores, value, out=context.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)
    )
    return layer.attn_out(context, ws.hidden(2, n, hidden), ws.staging)


def token_inputs(weights: BertWeights, ids: NDArray[np.int64], out: Array) -> Array:
    """The encoder's input before its first LayerNorm, into ``out`` ``(batch * length, hidden)``:
    each token's word embedding plus its position's and the (single) segment's."""
    batch, length = ids.shape
    np.take(weights.word_embeddings, ids.reshape(-1), axis=0, out=out)
    out.reshape(batch, length, -1)[:] += weights.position_embeddings[:length]
    out += weights.token_type_embedding
    return out


def encode_batch(
    encoder: Encoder,
    ids: NDArray[np.int64],
    lengths: NDArray[np.int64],
    workspace: Workspace | None = None,
) -> Array:
    """Sentence embeddings ``(batch, hidden)``, unit length, for right-padded token ``ids``.

    ``lengths[i]`` is the number of real tokens in row ``i``; the rest of the row is padding.
    """
    weights = encoder.weights
    batch, length = ids.shape
    n = batch * length
    hidden = weights.hidden_size
    heads = weights.num_heads
    eps = weights.layer_norm_eps
    scores_size = attention_scores_size(batch, length, heads)
    ws = workspace or Workspace.for_encoder(encoder, n, scores_size)
    if n > ws.max_tokens or scores_size > ws.max_scores:
        raise ValueError("workspace too small for this batch")

    x = token_inputs(weights, ids, ws.hidden(0, n, hidden))
    layer_norm_(x, weights.embed_norm_w, weights.embed_norm_b, eps)
    mask = np.arange(length) < lengths[:, None] if bool((lengths < length).any()) else None
    # Additive attention bias: 0 for real tokens, a huge negative number for padding.
    bias = None if mask is None else np.where(mask, np.float32(0.0), _MASKED)[:, None, None, :]
    width = encoder.intermediate_size
    inner = ws.inner(n, width)
    for layer, norms in zip(encoder.layers, weights.layers, strict=True):
        x += _attention(x, layer, bias, (batch, length, heads), ws)
        layer_norm_(x, norms.attn_norm_w, norms.attn_norm_b, eps)
        layer.ffn_in(x, inner, ws.staging)
        gelu_blocked_(inner, ws.gelu_scratch, approximate=encoder.precision == "int8")
        x += layer.ffn_out(inner, ws.hidden(2, n, hidden), ws.staging)
        layer_norm_(x, norms.ffn_norm_w, norms.ffn_norm_b, eps)
    tokens = x.reshape(batch, length, hidden)
    if mask is not None:
        token_weights = mask.astype(np.float32)
        pooled: Array = np.einsum("blh,bl->bh", tokens, token_weights)
        pooled /= np.maximum(token_weights.sum(axis=1, keepdims=True), np.float32(1e-9))
    else:
        pooled = tokens.mean(axis=1, dtype=np.float32)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
    return pooled
