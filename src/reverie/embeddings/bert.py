"""A BERT encoder forward pass in numpy float32, with mean pooling and L2 normalisation.

This reproduces what sentence-transformers computes for all-MiniLM-L6-v2 (BertModel, mean pooling
over real tokens, then ``normalize``) without torch. Every step works on a padded batch
``(batch, length)``; padded positions are excluded from attention and from pooling.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from reverie.embeddings.weights import Array, BertWeights, LayerWeights

# Abramowitz & Stegun 7.1.26: erfc(z) ~= poly(t) * exp(-z^2), t = 1 / (1 + p z), z >= 0,
# with absolute error below 1.5e-7 -- well under float32 noise for the GELU below.
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_INV_SQRT2 = float(1.0 / np.sqrt(2.0))
_MASKED = np.float32(-1e9)


def erf(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """Vectorised error function (absolute error < 1.5e-7); numpy has none built in."""
    z = np.abs(x, dtype=np.float32)
    return np.copysign(1.0 - _erfc_nonnegative(z), x).astype(np.float32)


def _erfc_nonnegative(z: Array) -> Array:
    t = 1.0 / (1.0 + _P * z)
    poly = t * (_A[0] + t * (_A[1] + t * (_A[2] + t * (_A[3] + t * _A[4]))))
    result: Array = poly * np.exp(-z * z)
    return result


def gelu_(x: Array) -> Array:
    """Exact (erf-based) GELU, ``x * Phi(x)``, computed in place on ``x`` and returned."""
    z = np.abs(x) * np.float32(_INV_SQRT2)
    half_erfc = _erfc_nonnegative(z)
    half_erfc *= np.float32(0.5)  # = Phi(-|x|)
    # Phi(x) = 1 - Phi(-|x|) for x >= 0, Phi(-|x|) otherwise.
    phi = np.where(x >= 0, np.float32(1.0) - half_erfc, half_erfc)
    x *= phi
    return x


def layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis (returns a new array)."""
    centred: Array = x - x.mean(axis=-1, keepdims=True)
    variance = np.einsum("...i,...i->...", centred, centred)[..., None] / centred.shape[-1]
    centred /= np.sqrt(variance + np.float32(eps))
    centred *= weight
    centred += bias
    return centred


def _attention(x: Array, layer: LayerWeights, bias: Array, batch: int, length: int, heads: int) -> Array:
    hidden = x.shape[-1]
    head_dim = hidden // heads
    qkv = x @ layer.qkv_w
    qkv += layer.qkv_b
    # (batch*length, 3*hidden) -> (3, batch, heads, length, head_dim)
    qkv = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    query, key, value = qkv[0], qkv[1], qkv[2]
    scores = query @ key.transpose(0, 1, 3, 2)  # query is pre-scaled by 1/sqrt(head_dim)
    scores += bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
    out: Array = context @ layer.attn_out_w
    out += layer.attn_out_b
    return out


def encode_batch(weights: BertWeights, ids: NDArray[np.int64], mask: NDArray[np.bool_]) -> Array:
    """Sentence embeddings ``(batch, hidden)``, unit length, for padded token ``ids`` and ``mask``."""
    batch, length = ids.shape
    hidden = weights.hidden_size
    eps = weights.layer_norm_eps
    x = weights.word_embeddings[ids] + weights.position_embeddings[:length]
    x += weights.token_type_embedding
    x = layer_norm(x.reshape(batch * length, hidden), weights.embed_norm_w, weights.embed_norm_b, eps)
    # Additive attention bias: 0 for real tokens, a huge negative number for padding.
    bias = np.where(mask, np.float32(0.0), _MASKED).astype(np.float32)[:, None, None, :]
    for layer in weights.layers:
        attended = _attention(x, layer, bias, batch, length, weights.num_heads)
        attended += x
        x = layer_norm(attended, layer.attn_norm_w, layer.attn_norm_b, eps)
        inner = x @ layer.ffn_in_w
        inner += layer.ffn_in_b
        gelu_(inner)
        out = inner @ layer.ffn_out_w
        out += layer.ffn_out_b
        out += x
        x = layer_norm(out, layer.ffn_norm_w, layer.ffn_norm_b, eps)
    tokens = x.reshape(batch, length, hidden)
    weights_per_token = mask.astype(np.float32)
    summed = np.einsum("blh,bl->bh", tokens, weights_per_token)
    counts = np.maximum(weights_per_token.sum(axis=1, keepdims=True), np.float32(1e-9))
    pooled: Array = summed / counts
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
    pooled /= norms
    return pooled
