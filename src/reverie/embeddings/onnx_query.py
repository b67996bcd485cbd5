"""Single queries through ONNX Runtime: the int8 encoder of ``quantized`` as one compiled graph.

A query has a dozen tokens, so the numpy encoder spends most of its time in the overhead of
~500 small numpy calls, not in arithmetic. ONNX Runtime runs the same computation as one graph
of native kernels: about half the time per question. The graph is built here from the loaded
weights (no model file is downloaded or written) with the same int8 scheme as
:class:`~reverie.embeddings.quantized.Int8Projection`: weights rounded per output channel, the
few outlier input channels found by calibration multiplied in float32 and masked out of the
int8 input (whose scale ONNX Runtime picks per call, from the whole input, so one outlier
would otherwise wipe out the rest). Vectors stay within cosine ~0.998 of the float32 model.
Building the graph takes ~1 s (importing ``onnx`` is most of it), so a built graph is kept on
disk (``graph_cache``) and later processes load it in ~0.1 s.

Optional: ``pip install 'reverie[onnx]'`` (``onnxruntime`` and ``onnx``, which builds the
graph). Without it queries use the numpy encoder.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reverie.core.errors import EmbeddingError
from reverie.embeddings.bert import token_inputs
from reverie.embeddings.graph_cache import graph_key, read_graph, write_graph
from reverie.embeddings.quantized import OUTLIER_CHANNELS, int8_weight, outlier_channels
from reverie.embeddings.weights import Array, BertWeights, load_weights

ONNX_INSTALL_HINT = (
    "The onnxruntime query engine needs `pip install 'reverie[onnx]'` (onnxruntime and onnx); "
    "query_engine='numpy' embeds queries without it."
)
# Opset 20: LayerNormalization (17), Gelu (20) and ReduceMean with axes as an input (18).
OPSET = 20
IR_VERSION = 9  # what onnxruntime >= 1.17 reads (the extra asks for >= 1.19)


def _import_failed(package: str, exc: ImportError) -> str:
    """The hint for a package that is missing, or installed but broken (an onnxruntime built
    for numpy 1 fails to import beside numpy 2, for one)."""
    if exc.name == package:
        return ONNX_INSTALL_HINT
    return (
        f"{package} is installed but could not be imported ({type(exc).__name__}: {exc}); "
        f"`pip install -U 'reverie[onnx]'` installs versions that work together, and "
        "query_engine='numpy' embeds queries without it."
    )


def onnx_available() -> bool:
    """Whether both packages the engine needs are importable (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


class _Graph:
    """Collects the nodes and constant tensors of the graph being built."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.constants: list[Any] = []

    def constant(self, name: str, value: NDArray[Any]) -> str:
        self.constants.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        self.nodes.append(
            self.helper.make_node(op, list(inputs), [output], name=output, **attributes)
        )
        return output

    def nodes_out(self, op: str, inputs: Sequence[str], outputs: Sequence[str]) -> list[str]:
        self.nodes.append(self.helper.make_node(op, list(inputs), list(outputs), name=outputs[0]))
        return list(outputs)


def _int8_projection(
    g: _Graph,
    x: str,
    weight: Array,
    bias: Array,
    outliers: NDArray[np.intp],
    name: str,
    levels: int,
) -> str:
    """``x @ weight + bias``: inlier channels in int8 (weights in ``[-levels, levels]``),
    ``outliers`` in float32."""
    rounded, scale = int8_weight(weight, outliers, levels)
    mask = np.ones(weight.shape[0], dtype=np.float32)
    mask[outliers] = 0.0
    masked = g.node("Mul", [x, g.constant(f"{name}.mask", mask)], f"{name}.inliers")
    quantized, x_scale, x_zero = g.nodes_out(
        "DynamicQuantizeLinear", [masked], [f"{name}.q", f"{name}.q_scale", f"{name}.q_zero"]
    )
    products = g.node(
        "MatMulInteger", [quantized, g.constant(f"{name}.w8", rounded), x_zero], f"{name}.i32"
    )
    as_float = g.node("Cast", [products], f"{name}.f32", to=1)  # 1: FLOAT
    scales = g.node("Mul", [x_scale, g.constant(f"{name}.w_scale", scale)], f"{name}.s")
    scaled = g.node("Mul", [as_float, scales], f"{name}.scaled")
    side = g.node(
        "Gather",
        [x, g.constant(f"{name}.outliers", outliers.astype(np.int64))],
        f"{name}.side_in",
        axis=1,
    )
    side = g.node(
        "MatMul",
        [side, g.constant(f"{name}.w_side", weight[outliers].astype(np.float32))],
        f"{name}.side",
    )
    # The bias first: onnxruntime folds a constant added to the product into its kernel.
    biased = g.node("Add", [scaled, g.constant(f"{name}.b", bias)], f"{name}.biased")
    return g.node("Add", [biased, side], name)


def build_query_graph(
    weights: BertWeights, outliers: list[dict[str, NDArray[np.intp]]], levels: int = 127
) -> bytes:
    """The serialized ONNX model: the query's token inputs ``(length, hidden)``
    (:func:`~reverie.embeddings.bert.token_inputs`) in, the unit vector ``(1, hidden)`` out
    (mean pooling over the tokens; a single query has no padding). ``levels``: the weights'
    integer range (:func:`weight_levels`)."""
    from onnx import TensorProto

    g = _Graph()
    hidden, heads = weights.hidden_size, weights.num_heads
    eps = weights.layer_norm_eps
    zero = g.constant("zero", np.array([0], dtype=np.int64))
    split = g.constant("split_shape", np.array([-1, 3, heads, hidden // heads], dtype=np.int64))
    merged = g.constant("merged_shape", np.array([-1, hidden], dtype=np.int64))
    picks = [g.constant(f"pick{i}", np.array(i, dtype=np.int64)) for i in range(3)]

    # The token embeddings are summed in numpy (bert.token_inputs) from the weights the model
    # holds anyway: the word table (47 MB) would otherwise be a second copy inside the graph.
    x = "tokens"

    def norm(x: str, w: Array, b: Array, name: str) -> str:
        inputs = [x, g.constant(f"{name}.w", w), g.constant(f"{name}.b", b)]
        return g.node("LayerNormalization", inputs, name, axis=-1, epsilon=eps)

    x = norm(x, weights.embed_norm_w, weights.embed_norm_b, "embed_norm")
    for i, (layer, chosen) in enumerate(zip(weights.layers, outliers, strict=True)):
        p = f"layer{i}"
        qkv = _int8_projection(g, x, layer.qkv_w, layer.qkv_b, chosen["qkv"], f"{p}.qkv", levels)
        # (length, 3 * hidden) -> (3, heads, length, head_dim); the query is pre-scaled.
        parts = g.node("Reshape", [qkv, split], f"{p}.split")
        parts = g.node("Transpose", [parts], f"{p}.heads", perm=[1, 2, 0, 3])
        query, key, value = (
            g.node("Gather", [parts, pick], f"{p}.{part}", axis=0)
            for pick, part in zip(picks, ("query", "key", "value"), strict=True)
        )
        key = g.node("Transpose", [key], f"{p}.key_t", perm=[0, 2, 1])
        scores = g.node("MatMul", [query, key], f"{p}.scores")
        scores = g.node("Softmax", [scores], f"{p}.softmax", axis=-1)
        context = g.node("MatMul", [scores, value], f"{p}.context")
        context = g.node("Transpose", [context], f"{p}.context_t", perm=[1, 0, 2])
        context = g.node("Reshape", [context, merged], f"{p}.context_2d")
        attended = _int8_projection(
            g,
            context,
            layer.attn_out_w,
            layer.attn_out_b,
            chosen["attn_out"],
            f"{p}.attn_out",
            levels,
        )
        x = g.node("Add", [x, attended], f"{p}.attn_res")
        x = norm(x, layer.attn_norm_w, layer.attn_norm_b, f"{p}.attn_norm")
        inner = _int8_projection(
            g, x, layer.ffn_in_w, layer.ffn_in_b, chosen["ffn_in"], f"{p}.ffn_in", levels
        )
        inner = g.node("Gelu", [inner], f"{p}.gelu")
        out = _int8_projection(
            g, inner, layer.ffn_out_w, layer.ffn_out_b, chosen["ffn_out"], f"{p}.ffn_out", levels
        )
        x = g.node("Add", [x, out], f"{p}.ffn_res")
        x = norm(x, layer.ffn_norm_w, layer.ffn_norm_b, f"{p}.ffn_norm")
    pooled = g.node("ReduceMean", [x, zero], "pooled", keepdims=1)
    g.node("LpNormalization", [pooled], "vector", axis=-1, p=2)
    helper = g.helper
    graph = helper.make_graph(
        g.nodes,
        "reverie-minilm-query",
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["length", hidden])],
        [helper.make_tensor_value_info("vector", TensorProto.FLOAT, [1, hidden])],
        g.constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    serialized: bytes = model.SerializeToString()
    return serialized


# A serialized ONNX model, y = MatMulInteger(a, b): a (1, 64) uint8 in, b a (64, 1) int8
# constant of 127s (opset 20). Kept as bytes so that the probe needs no `import onnx` (~1 s);
# tests/embeddings/test_onnx_queries.py builds it again with onnx and compares.
SATURATION_PROBE = (
    "CAk6pQEKGAoBYQoBYhIBeSINTWF0TXVsSW50ZWdlchIScmV2ZXJpZS1pbnQ4LXByb2JlKksIQAgBEANCAWJKQH9/"
    "f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f39aEwoB"
    "YRIOCgwIAhIICgIIAQoCCEBiEwoBeRIOCgwIBhIICgIIAQoCCAFCBAoAEBQ="
)
SATURATION_PROBE_DEPTH = 64


@functools.cache
def weight_levels() -> int:
    """The int8 weights' range for this machine's onnxruntime kernels: 127, or 63 where its
    int8 products saturate.

    Without VNNI (AVX2 alone) onnxruntime's kernel adds pairs of uint8 x int8 products in int16
    with saturation: two products of 255 x 127 overflow it and queries drift (cosine to float32
    down to 0.947 on one LoCoMo question). Weights in [-63, 63] keep every pair in range, at a
    little precision; whether a kernel saturates is tried, not guessed from the CPU's name.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        base64.b64decode(SATURATION_PROBE), options, providers=["CPUExecutionProvider"]
    )
    depth = SATURATION_PROBE_DEPTH
    (found,) = session.run(["y"], {"a": np.full((1, depth), 255, dtype=np.uint8)})
    return 127 if int(np.asarray(found)[0, 0]) == 255 * 127 * depth else 63


class OnnxQueryEncoder:
    """Embeds one tokenized query on one thread; safe to share between threads."""

    precision = "int8"

    def __init__(self, graph: bytes, weights: BertWeights) -> None:
        """A session for ``graph`` (from :func:`build_query_graph` of ``weights``, whose
        embedding tables give the graph its input)."""
        self._weights = weights
        try:
            import onnxruntime
        except ImportError as exc:
            raise EmbeddingError(_import_failed("onnxruntime", exc)) from exc
        options = onnxruntime.SessionOptions()
        # One query, one thread: a search runs beside other work, and a thread pool's wake-up
        # costs more than a query's small products gain from it.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = onnxruntime.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(
                f"onnxruntime could not load the query graph ({type(exc).__name__}: {exc}); "
                "query_engine='numpy' embeds queries without it."
            ) from exc

    @classmethod
    def for_model(
        cls, model_dir: Path, calibration_ids: Sequence[Sequence[int]]
    ) -> OnnxQueryEncoder:
        """The encoder of the weights in ``model_dir``: its graph read from the cache
        (``graph_cache``), else built and kept there."""
        if importlib.util.find_spec("onnxruntime") is None:
            raise EmbeddingError(ONNX_INSTALL_HINT)
        levels = weight_levels()
        key = graph_key(
            model_dir, calibration_ids, f"opset{OPSET}-outliers{OUTLIER_CHANNELS}-levels{levels}"
        )
        weights = load_weights(model_dir)
        kept = read_graph(key)
        if kept is not None:
            try:
                return cls(kept, weights)
            except EmbeddingError:  # a damaged or foreign file: build the graph again
                pass
        try:
            graph = build_query_graph(weights, outlier_channels(weights, calibration_ids), levels)
        except ImportError as exc:
            raise EmbeddingError(_import_failed("onnx", exc)) from exc
        encoder = cls(graph, weights)
        write_graph(key, graph)
        return encoder

    def __call__(self, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """The ``(1, hidden)`` unit vector of one query's token ``ids`` (``(1, length)``)."""
        ids = ids.reshape(1, -1)
        tokens = np.empty((ids.shape[1], self._weights.hidden_size), dtype=np.float32)
        token_inputs(self._weights, ids, tokens)
        (vector,) = self._session.run(["vector"], {"tokens": tokens})
        return np.asarray(vector, dtype=np.float32)


__all__ = ["ONNX_INSTALL_HINT", "OnnxQueryEncoder", "build_query_graph", "onnx_available"]
