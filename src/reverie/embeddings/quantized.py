"""int8 dense layers: half the weight bytes of bfloat16, for fast single queries.

For a short query the dense layers are bound by reading their weights, and numkong's int8
packed product (AVX-512 VNNI) reads half the bytes of the bfloat16 one and runs twice as fast.
Each weight column (output channel) is rounded to int8 with its own scale; each input row is
rounded to int8 with its own scale when it arrives, and the exact int32 products are scaled back.

MiniLM's activations have a few huge channels (LayerNorm outputs reach ~30 in channel 99 where
most stay under 2, and each layer's GELU output has one or two such channels). Rounding a row to
a scale set by such a channel wipes out the others, so those input channels -- found once by
running the float32 model on a few calibration sentences -- bypass int8: their weight rows are
zero in the int8 matrix and they are multiplied in float32 instead (the LLM.int8() split). With
:data:`OUTLIER_CHANNELS` of them per projection, sentence vectors stay within cosine ~0.998 of
the float32 ones (measured by ``benchmarks.embedding_bench``); without, some fall to 0.986.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from reverie.embeddings.bert import encode_batch
from reverie.embeddings.projections import (
    Encoder,
    LayerProjections,
    Projection,
    Scratch,
    build_encoder,
)
from reverie.embeddings.weights import Array, BertWeights

# Input channels per projection kept out of int8 (of 384 or 1536).
OUTLIER_CHANNELS = 8
# Varied short texts whose activations show where the outlier channels are; they are a property
# of the model, so a handful of sentences finds them.
CALIBRATION_TEXTS = (
    "What did Caroline do last weekend?",
    "Melanie: Thanks, that means a lot to me!",
    "The quick brown fox jumps over the lazy dog.",
    "Stock markets fell sharply on Tuesday after the report came out.",
    "When is the meeting with the new manager?",
    "Café crème à Paris, 東京で寿司を食べました 🙂",
    "I started volunteering at the community garden because it reminded me of home.",
    "ok",
)
_TINY = np.float32(1e-30)
_INT8_MAX = np.float32(127.0)
_NAMES = ("qkv", "attn_out", "ffn_in", "ffn_out")


def int8_weight(
    weight: Array, outliers: NDArray[np.intp], levels: int = 127
) -> tuple[NDArray[np.int8], Array]:
    """``weight`` (in, out) rounded per output channel to integers in ``[-levels, levels]``, its
    ``outliers`` rows zero, and each channel's float32 scale (float weight = int8 weight *
    scale)."""
    inliers = weight.copy()
    inliers[outliers] = 0.0
    scale = np.maximum(np.abs(inliers).max(axis=0), _TINY) / np.float32(levels)
    rounded = np.clip(np.rint(inliers / scale), -levels, levels).astype(np.int8)
    return rounded, scale.astype(np.float32)


@dataclass(frozen=True)
class Int8Projection:
    packed: object  # numkong.PackedMatrix of the (out, in) int8 weight, outlier rows zero
    weight_scale: Array  # (out,): float weight = int8 weight * scale, per output channel
    outliers: NDArray[np.intp]  # (k,) outlier input channels
    outlier_weight: Array  # (k + 1, out): their float32 weight rows, then the bias
    in_features: int
    out_features: int
    kernels: ModuleType  # numkong

    @classmethod
    def of(
        cls, weight: Array, bias: Array, outliers: NDArray[np.intp], kernels: ModuleType
    ) -> Int8Projection:
        rounded, scale = int8_weight(weight, outliers)
        # An int8 array without dtype=: numkong reads the numpy dtype.
        packed = kernels.dots_pack(np.ascontiguousarray(rounded.T))
        outlier_weight = np.concatenate([weight[outliers], bias[None, :]]).astype(np.float32)
        return cls(
            packed,
            scale,
            outliers,
            outlier_weight,
            int(weight.shape[0]),
            int(weight.shape[1]),
            kernels,
        )

    def __call__(self, x: Array, out: Array, staging: Scratch) -> Array:
        nk = self.kernels
        n, width = x.shape
        size, extra = n * width, len(self.outliers) + 1
        # staging: x scaled to int8 range (float32), its int8 rounding, the outlier inputs, then
        # their (n, out) product; every part float32-aligned.
        scaled = staging[: 4 * size].view(np.float32).reshape(n, width)
        rounded = staging[4 * size : 5 * size].view(np.int8).reshape(n, width)
        start = -(-5 * size // 4) * 4
        side = staging[start : start + 4 * n * extra].view(np.float32).reshape(n, extra)
        start += 4 * n * extra
        side_out = staging[start : start + 4 * out.size].view(np.float32).reshape(out.shape)

        # Each row's scale comes from its inlier channels only. Outlier channels may round out
        # of int8's range: their int8 weight rows are zero, so whatever they become adds 0.
        # (For a query's few tokens each numpy call costs about as much as its arithmetic: the
        # ufuncs' own reductions and same-type products keep the calls few and cheap.)
        np.abs(x, out=scaled)
        scaled[:, self.outliers] = 0.0
        row_max = np.maximum.reduce(scaled, axis=1)
        row_max += _TINY
        np.multiply(x, (_INT8_MAX / row_max)[:, None], out=scaled)
        np.rint(scaled, out=rounded, casting="unsafe")
        # numkong reads the numpy int8 array; it writes the exact int32 products into out.
        products = nk.from_pointer(out.ctypes.data, out.shape, "int32", owner=out)
        nk.dots_packed(rounded, self.packed, out=products)
        # In place to float32 (as a mixed int32-float32 product would convert them), then
        # scaled back per output channel and per row.
        np.copyto(out, out.view(np.int32), casting="unsafe")
        out *= self.weight_scale
        row_max *= 1 / _INT8_MAX
        out *= row_max[:, None]
        # Outlier channels and the bias (a column of ones) in one small float32 product.
        side[:, -1] = 1.0
        np.take(x, self.outliers, axis=1, out=side[:, :-1])
        np.matmul(side, self.outlier_weight, out=side_out)
        out += side_out
        return out


def scratch_bytes(width: int, out_width: int, outliers: int = OUTLIER_CHANNELS) -> int:
    """Bytes of staging :class:`Int8Projection` needs per input row."""
    return 5 * width + 4 + 4 * (outliers + 1) + 4 * out_width


class _InputRange:
    """Wraps a projection and records the largest magnitude each input channel reaches."""

    def __init__(self, inner: Projection) -> None:
        self.inner = inner
        self.in_features = inner.in_features
        self.out_features = inner.out_features
        self.largest = np.zeros(inner.in_features, dtype=np.float32)

    def __call__(self, x: Array, out: Array, staging: Scratch) -> Array:
        np.maximum(self.largest, np.abs(x).max(axis=0), out=self.largest)
        return self.inner(x, out, staging)


def outlier_channels(
    weights: BertWeights, calibration_ids: Sequence[Sequence[int]]
) -> list[dict[str, NDArray[np.intp]]]:
    """Per layer and projection, the :data:`OUTLIER_CHANNELS` inputs of largest magnitude."""
    if not calibration_ids:
        raise ValueError("int8 calibration needs at least one tokenized text")
    exact = build_encoder(weights, "float32")
    recorded = [
        {name: _InputRange(getattr(layer, name)) for name in _NAMES} for layer in exact.layers
    ]
    probe = Encoder(weights, tuple(LayerProjections(**layer) for layer in recorded), "float32")
    for ids in calibration_ids:
        row = np.asarray([ids], dtype=np.int64)
        encode_batch(probe, row, np.array([row.shape[1]], dtype=np.int64))
    return [
        {
            name: np.sort(np.argsort(r.largest)[::-1][:OUTLIER_CHANNELS]).astype(np.intp)
            for name, r in layer.items()
        }
        for layer in recorded
    ]


def build_int8_encoder(
    weights: BertWeights, calibration_ids: Sequence[Sequence[int]], kernels: ModuleType
) -> Encoder:
    """The dense layers of ``weights`` in int8 (calibrating and packing take ~0.1 s)."""
    outliers = outlier_channels(weights, calibration_ids)
    layers = []
    for layer, chosen in zip(weights.layers, outliers, strict=True):
        parts = {
            "qkv": (layer.qkv_w, layer.qkv_b),
            "attn_out": (layer.attn_out_w, layer.attn_out_b),
            "ffn_in": (layer.ffn_in_w, layer.ffn_in_b),
            "ffn_out": (layer.ffn_out_w, layer.ffn_out_b),
        }
        layers.append(
            LayerProjections(
                **{
                    name: Int8Projection.of(weight, bias, chosen[name], kernels)
                    for name, (weight, bias) in parts.items()
                }
            )
        )
    return Encoder(weights, tuple(layers), "int8")
