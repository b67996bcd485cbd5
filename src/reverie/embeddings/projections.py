"""The encoder's dense layers, ``out = x @ W + b``: float32 (exact) or bfloat16 (faster).

Four dense layers per transformer layer do ~95% of the arithmetic. In float32 they go through
numpy's BLAS. In bfloat16 they go through ``numkong``'s packed-matrix kernels: the weights are
rounded to bfloat16 and packed once, each input is rounded to bfloat16 on the way in, and the
products are accumulated in float32. On CPUs with AVX-512 this takes about half the time of
OpenBLAS's float32 product (a third for one short query), and the sentence vectors stay within
cosine 0.9999 of the float32 ones (measured by ``benchmarks.embedding_bench``).

``"auto"`` picks bfloat16 where numkong has AVX-512 kernels on this CPU and works, float32
elsewhere: on AVX2-only CPUs numkong's bfloat16 product of a batch is slower than OpenBLAS's.
Where numkong also has AVX-512 VNNI int8 kernels, ``"auto"`` embeds single queries in int8
(:mod:`reverie.embeddings.quantized`), which is faster still for short inputs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from reverie.core.errors import EmbeddingError
from reverie.embeddings.weights import Array, BertWeights

Precision = Literal["auto", "float32", "bfloat16", "int8"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16", "int8")
Resolved = Literal["float32", "bfloat16", "int8"]
Scratch = NDArray[np.uint8]  # raw bytes: bfloat16 bit patterns, which numpy has no dtype for, etc.
# Scratch bytes per token and per unit of the widest layer: bfloat16 rounds the input (2 bytes a
# value); int8 keeps two float32 copies, the int8 rounding and the output's scales.
SCRATCH_BYTES = {"float32": 0, "bfloat16": 2, "int8": 16}

# numkong kernel families of x86 CPUs with AVX-512, where its bfloat16 product beats OpenBLAS's
# float32 one even without the AVX-512 bfloat16 instructions (measured on both).
_FAST_BF16_CAPABILITIES = (
    "skylake",
    "icelake",
    "genoa",
    "turin",
    "sapphire",
    "sapphireamx",
    "graniteamx",
    "diamond",
)
# Those with AVX-512 VNNI, where numkong's int8 product runs at twice the bfloat16 one's speed.
_FAST_INT8_CAPABILITIES = _FAST_BF16_CAPABILITIES[1:]


class Projection(Protocol):
    """``out = x @ W + b`` for a C-contiguous ``x`` of shape ``(n, in_features)``."""

    @property
    def in_features(self) -> int: ...

    @property
    def out_features(self) -> int: ...

    def __call__(self, x: Array, out: Array, staging: Scratch) -> Array:
        """``staging``: scratch of at least ``SCRATCH_BYTES[precision] * n * max(in, out)``."""
        ...


@dataclass(frozen=True)
class Float32Projection:
    weight: Array  # (in, out)
    bias: Array
    in_features: int
    out_features: int

    @classmethod
    def of(cls, weight: Array, bias: Array) -> Float32Projection:
        return cls(weight, bias, int(weight.shape[0]), int(weight.shape[1]))

    def __call__(self, x: Array, out: Array, staging: Scratch) -> Array:
        np.matmul(x, self.weight, out=out)
        out += self.bias
        return out


@dataclass(frozen=True)
class BFloat16Projection:
    packed: object  # numkong.PackedMatrix of the (out, in) weight in bfloat16; read-only
    bias: Array
    in_features: int
    out_features: int
    kernels: ModuleType  # numkong

    @classmethod
    def of(cls, weight: Array, bias: Array, kernels: ModuleType) -> BFloat16Projection:
        rows = np.ascontiguousarray(weight.T)  # numkong multiplies by the transposed operand
        packed = kernels.dots_pack(kernels.astype(rows, "bf16"), dtype="bf16")
        return cls(packed, bias, int(weight.shape[0]), int(weight.shape[1]), kernels)

    def __call__(self, x: Array, out: Array, staging: Scratch) -> Array:
        nk = self.kernels
        n, width = x.shape
        # Views over numpy memory, so numkong writes into the caller's buffers and allocates
        # nothing: fresh multi-megabyte buffers would cost page faults on every call.
        rounded = nk.from_pointer(staging.ctypes.data, (n, width), "bf16", owner=staging)
        nk.astype(x, "bf16", out=rounded)
        result = nk.from_pointer(out.ctypes.data, out.shape, "float32", owner=out)
        nk.dots_packed(rounded, self.packed, out=result)
        out += self.bias
        return out


@dataclass(frozen=True)
class LayerProjections:
    qkv: Projection  # query part pre-scaled by 1/sqrt(head_dim)
    attn_out: Projection
    ffn_in: Projection
    ffn_out: Projection


@dataclass(frozen=True)
class Encoder:
    """Weights plus the dense layers in one precision: what the forward pass needs."""

    weights: BertWeights
    layers: tuple[LayerProjections, ...]
    precision: Resolved

    @property
    def intermediate_size(self) -> int:
        return self.layers[0].ffn_in.out_features if self.layers else 1

    @property
    def scratch_bytes_per_token(self) -> int:
        width = max(self.weights.hidden_size, self.intermediate_size)
        return SCRATCH_BYTES[self.precision] * width


def bfloat16_kernels() -> ModuleType | None:
    """numkong, if it imports and multiplies a known bfloat16 product correctly."""
    try:
        nk = importlib.import_module("numkong")
        left = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
        right = np.array([[4.0, 5.0, -6.0], [-7.0, 8.0, 9.0]], dtype=np.float32)
        packed = nk.dots_pack(nk.astype(right, "bf16"), dtype="bf16")
        found = np.asarray(nk.dots_packed(nk.astype(left, "bf16"), packed)).tolist()
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return nk if found == [[-24.0, 4.0]] else None


def int8_kernels() -> ModuleType | None:
    """numkong, if it multiplies a known int8 product exactly (into int32)."""
    nk = bfloat16_kernels()
    if nk is None:
        return None
    try:
        left = np.array([[1, -2, 3]], dtype=np.int8)
        right = np.array([[4, 5, -6], [-7, 8, 127]], dtype=np.int8)
        found = np.asarray(nk.dots_packed(left, nk.dots_pack(right))).tolist()
    except (AttributeError, TypeError, ValueError):
        return None
    return nk if found == [[-24, 358]] else None


def _has(kernels: ModuleType, families: tuple[str, ...]) -> bool:
    capabilities = kernels.get_capabilities()
    return any(capabilities.get(name, False) for name in families)


def resolve_precision(precision: Precision) -> Resolved:
    """The precision of documents ``precision`` stands for here (``"auto"`` decided here)."""
    if precision not in PRECISIONS:
        raise EmbeddingError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}."
        )
    if precision == "float32":
        return "float32"
    kernels = bfloat16_kernels() if precision != "int8" else int8_kernels()
    if kernels is None:
        if precision != "auto":
            raise EmbeddingError(
                f"precision={precision!r} needs a working 'numkong' package (pip install "
                "numkong); precision='float32' needs nothing extra."
            )
        return "float32"
    if precision != "auto":
        return precision
    return "bfloat16" if _has(kernels, _FAST_BF16_CAPABILITIES) else "float32"


def resolve_query_precision(precision: Precision) -> Resolved:
    """The precision single queries are embedded in: ``"auto"`` takes int8 where it is fast."""
    documents = resolve_precision(precision)
    if precision != "auto" or documents != "bfloat16":
        return documents
    kernels = int8_kernels()
    fast = kernels is not None and _has(kernels, _FAST_INT8_CAPABILITIES)
    return "int8" if fast else documents


def build_encoder(weights: BertWeights, precision: Literal["float32", "bfloat16"]) -> Encoder:
    """The dense layers of ``weights`` in ``precision`` (bfloat16 packing takes ~0.1 s)."""
    kernels = bfloat16_kernels() if precision == "bfloat16" else None
    if precision == "bfloat16" and kernels is None:
        raise EmbeddingError("bfloat16 encoding needs a working 'numkong' package.")

    def projection(weight: Array, bias: Array) -> Projection:
        if kernels is None:
            return Float32Projection.of(weight, bias)
        return BFloat16Projection.of(weight, bias, kernels)

    layers = tuple(
        LayerProjections(
            qkv=projection(layer.qkv_w, layer.qkv_b),
            attn_out=projection(layer.attn_out_w, layer.attn_out_b),
            ffn_in=projection(layer.ffn_in_w, layer.ffn_in_b),
            ffn_out=projection(layer.ffn_out_w, layer.ffn_out_b),
        )
        for layer in weights.layers
    )
    return Encoder(weights, layers, precision)
