"""Queries embedded through onnxruntime: the same vectors as the numpy int8 encoder to within
int8 rounding, chosen by default where installed, and typed errors where it cannot run."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reverie.core.errors import EmbeddingError
from reverie.embeddings import LocalMiniLMEmbeddings
from reverie.embeddings.onnx_query import (
    SATURATION_PROBE,
    SATURATION_PROBE_DEPTH,
    onnx_available,
    weight_levels,
)
from reverie.embeddings.projections import int8_kernels
from tests.embeddings.conftest import onnx_query_floor

TEXTS = [
    "What pet does she have?",
    "When did Caroline go to the LGBTQ support group?",
    "ok",
    "",
    "Café crème à Paris, 東京で寿司を食べました 🙂",
    "Привет, как дела?",
    "Melanie: I painted a sunrise last week, it took me three evenings!",
    " ".join(f"word{i} about volcanoes" for i in range(120)),  # 300+ tokens: truncated to 256
]


@pytest.fixture(scope="module")
def onnx_embedder() -> LocalMiniLMEmbeddings:
    if not onnx_available():
        if os.environ.get("CI"):
            pytest.fail("CI installs reverie[onnx]; onnxruntime or onnx is missing")
        pytest.skip("onnxruntime and onnx are not installed (pip install 'reverie[onnx]')")
    embedder = LocalMiniLMEmbeddings(query_engine="onnxruntime")
    embedder.embed_query("warm up")
    return embedder


def test_auto_takes_onnxruntime_where_installed(onnx_embedder: LocalMiniLMEmbeddings) -> None:
    chosen = LocalMiniLMEmbeddings()
    assert chosen.query_engine == "onnxruntime"
    assert chosen.query_precision == "int8"
    assert "query_engine='onnxruntime'" in repr(chosen)
    # Documents never go through it: they keep their own precision.
    assert chosen.precision in ("float32", "bfloat16")


def test_onnx_queries_agree_with_float32(onnx_embedder: LocalMiniLMEmbeddings) -> None:
    exact = LocalMiniLMEmbeddings(precision="float32", query_engine="numpy")
    reference = np.asarray(exact.embed_documents(TEXTS))
    queries = np.asarray([onnx_embedder.embed_query(text) for text in TEXTS])
    assert queries.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    agreement = np.sum(reference * queries, axis=1)
    # The same int8 scheme as the numpy encoder: measured min 0.9985 over LoCoMo's questions
    # (0.9945 with the 7-bit weights of a saturating kernel).
    assert agreement.min() > onnx_query_floor(), agreement


def test_onnx_and_numpy_int8_queries_are_the_same_computation(
    onnx_embedder: LocalMiniLMEmbeddings,
) -> None:
    if int8_kernels() is None:
        pytest.skip("numkong's int8 kernels are not usable here")
    numpy_int8 = LocalMiniLMEmbeddings(precision="int8", query_engine="numpy")
    ours = np.asarray([onnx_embedder.embed_query(t) for t in TEXTS])
    theirs = np.asarray([numpy_int8.embed_query(t) for t in TEXTS])
    # Both round to int8 (onnxruntime per input, numpy per row): closer to each other than
    # either is to float32, and the rankings they give a set of documents agree. Where
    # onnxruntime's weights keep 7 bits (a saturating kernel), the rounding differs more.
    assert np.sum(ours * theirs, axis=1).min() > (0.997 if weight_levels() == 127 else 0.99)
    documents = np.asarray(numpy_int8.embed_documents(TEXTS))
    assert np.array_equal(
        np.argmax(ours @ documents.T, axis=1), np.argmax(theirs @ documents.T, axis=1)
    )


def test_an_onnx_embedder_survives_copies_and_async(onnx_embedder: LocalMiniLMEmbeddings) -> None:
    import asyncio
    import copy
    import pickle

    vector = onnx_embedder.embed_query("the garden")
    assert copy.deepcopy(onnx_embedder).embed_query("the garden") == vector
    assert pickle.loads(pickle.dumps(onnx_embedder)).embed_query("the garden") == vector
    assert asyncio.run(onnx_embedder.aembed_query("the garden")) == vector


def test_the_query_engine_is_checked() -> None:
    with pytest.raises(EmbeddingError, match="query_engine must be"):
        LocalMiniLMEmbeddings(query_engine="tensorrt")  # type: ignore[arg-type]
    if onnx_available():
        # onnxruntime embeds in int8 only: an exact precision is refused, not ignored.
        with pytest.raises(EmbeddingError, match="precision='float32'"):
            LocalMiniLMEmbeddings(precision="float32", query_engine="onnxruntime")
    exact = LocalMiniLMEmbeddings(precision="float32")
    assert (exact.query_engine, exact.query_precision) == ("numpy", "float32")
    assert LocalMiniLMEmbeddings(query_engine="numpy").query_engine == "numpy"


def test_without_onnxruntime_auto_uses_numpy_and_asking_for_it_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    chosen = LocalMiniLMEmbeddings()
    assert chosen.query_engine == "numpy"
    assert len(chosen.embed_query("still works")) == 384
    with pytest.raises(EmbeddingError, match=r"reverie\[onnx\]"):
        LocalMiniLMEmbeddings(query_engine="onnxruntime")


def test_an_onnxruntime_installed_but_broken_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if not onnx_available():
        pytest.skip("onnxruntime and onnx are not installed")
    import builtins

    from reverie.embeddings import local

    real_import = builtins.__import__

    def numpy_2_mismatch(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "onnxruntime":  # what onnxruntime 1.17 does beside numpy 2
            raise ImportError("_ARRAY_API not found", name="onnxruntime.capi._pybind_state")
        return real_import(name, *args, **kwargs)

    local._onnx_encoder.cache_clear()  # build a session now, not reuse one
    monkeypatch.setattr(builtins, "__import__", numpy_2_mismatch)
    try:
        with pytest.raises(EmbeddingError, match="installed but could not be imported") as info:
            LocalMiniLMEmbeddings(query_engine="onnxruntime").embed_query("a garden")
        assert "_ARRAY_API" in str(info.value) and "query_engine='numpy'" in str(info.value)
        chosen = LocalMiniLMEmbeddings()
        with caplog.at_level("WARNING", logger="reverie.embeddings.local"):
            assert len(chosen.embed_query("a garden")) == 384
        assert chosen.query_engine == "numpy" and "_ARRAY_API" in caplog.text
    finally:
        monkeypatch.undo()
        local._onnx_encoder.cache_clear()


def test_an_onnxruntime_that_fails_to_load_falls_back_to_numpy_only_under_auto(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if not onnx_available():
        pytest.skip("onnxruntime and onnx are not installed")
    from reverie.embeddings import local

    def broken(*_: object) -> object:
        raise EmbeddingError("onnxruntime could not load the query graph (broken build).")

    monkeypatch.setattr(local, "_onnx_encoder", broken)
    chosen = LocalMiniLMEmbeddings()
    assert chosen.query_engine == "onnxruntime"  # installed, so chosen until it fails to load
    with caplog.at_level("WARNING", logger="reverie.embeddings.local"):
        vector = chosen.embed_query("a garden in spring")
    assert len(vector) == 384
    assert chosen.query_engine == "numpy"
    assert "broken build" in caplog.text and "numpy instead" in caplog.text
    with pytest.raises(EmbeddingError, match="broken build"):
        LocalMiniLMEmbeddings(query_engine="onnxruntime").embed_query("a garden in spring")


def _calibration() -> tuple[tuple[int, ...], ...]:
    from tokenizers import Tokenizer

    from reverie.embeddings.quantized import CALIBRATION_TEXTS
    from reverie.embeddings.weights import locate_model_dir

    tokenizer = Tokenizer.from_file(str(locate_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    return tuple(tuple(tokenizer.encode(text).ids) for text in CALIBRATION_TEXTS)


def test_a_built_graph_is_kept_on_disk_and_later_loaded_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not onnx_available():
        pytest.skip("onnxruntime and onnx are not installed")
    from reverie.embeddings import onnx_query
    from reverie.embeddings.weights import locate_model_dir

    monkeypatch.setenv("REVERIE_CACHE_DIR", str(tmp_path / "cache"))
    ids = np.asarray([[101, 2054, 2106, 102]], dtype=np.int64)
    built = onnx_query.OnnxQueryEncoder.for_model(locate_model_dir(), _calibration())
    (kept,) = (tmp_path / "cache").glob("*.onnx")  # one file, no partial one left

    def no_build(*_: object) -> bytes:
        raise AssertionError("the kept graph should have been loaded")

    monkeypatch.setattr(onnx_query, "build_query_graph", no_build)
    loaded = onnx_query.OnnxQueryEncoder.for_model(locate_model_dir(), _calibration())
    assert np.array_equal(loaded(ids), built(ids))

    # A damaged file is built again and replaced, not trusted.
    monkeypatch.undo()
    monkeypatch.setenv("REVERIE_CACHE_DIR", str(tmp_path / "cache"))
    kept.write_bytes(b"not a graph")
    rebuilt = onnx_query.OnnxQueryEncoder.for_model(locate_model_dir(), _calibration())
    assert np.array_equal(rebuilt(ids), built(ids))
    # The int8 layers only: the word table (47 MB in float32) stays with the numpy weights.
    assert 1_000_000 < kept.stat().st_size < 20_000_000


def test_a_cache_folder_that_cannot_be_written_only_means_building_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not onnx_available():
        pytest.skip("onnxruntime and onnx are not installed")
    from reverie.embeddings.onnx_query import OnnxQueryEncoder
    from reverie.embeddings.weights import locate_model_dir

    blocker = tmp_path / "a-file"
    blocker.write_text("a folder cannot be made under a file")
    monkeypatch.setenv("REVERIE_CACHE_DIR", str(blocker / "cache"))
    encoder = OnnxQueryEncoder.for_model(locate_model_dir(), _calibration())
    assert encoder(np.asarray([[101, 102]], dtype=np.int64)).shape == (1, 384)


def test_the_cache_key_follows_the_weights_files(tmp_path: Path) -> None:
    from reverie.embeddings.graph_cache import graph_key

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    calibration = ((101, 102),)
    first = graph_key(tmp_path, calibration, "s")
    assert graph_key(tmp_path, calibration, "s") == first
    os.utime(tmp_path / "model.safetensors", ns=(1, 1))  # other weights installed there
    assert graph_key(tmp_path, calibration, "s") != first
    assert graph_key(tmp_path, ((101, 103),), "s") != graph_key(tmp_path, calibration, "s")
    assert graph_key(tmp_path, calibration, "t") != graph_key(tmp_path, calibration, "s")


def test_graphs_unused_for_a_month_are_deleted_when_a_graph_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverie.embeddings.graph_cache import read_graph, write_graph

    folder = tmp_path / "cache"
    folder.mkdir()
    month = 31 * 24 * 3600
    stale = folder / "minilm-query-old.onnx"  # weights replaced, or an earlier release
    stale.write_bytes(b"old graph")
    in_use = folder / "minilm-query-used.onnx"  # another environment still reads it
    in_use.write_bytes(b"used graph")
    crashed = folder / ".partial-x.onnx"
    crashed.write_bytes(b"half")
    not_ours = folder / "notes.txt"
    not_ours.write_text("kept")
    for path in (stale, in_use, crashed, not_ours):
        os.utime(path, (os.path.getmtime(path) - month,) * 2)
    monkeypatch.setenv("REVERIE_CACHE_DIR", str(folder))
    assert read_graph("minilm-query-used.onnx") == b"used graph"
    write_graph("minilm-query-new.onnx", b"new graph")
    assert sorted(p.name for p in folder.iterdir()) == [
        "minilm-query-new.onnx",
        "minilm-query-used.onnx",
        "notes.txt",
    ]


def products_of_127s(name: str, rows: int, depth: int, columns: int) -> bytes:
    """A serialized y = MatMulInteger(a, b): a (rows, depth) uint8 in, b (depth, columns) of 127s."""
    from onnx import TensorProto, helper, numpy_helper

    from reverie.embeddings.onnx_query import IR_VERSION, OPSET

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        name,
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [rows, depth])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [rows, columns])],
        [numpy_helper.from_array(np.full((depth, columns), 127, dtype=np.int8), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    serialized: bytes = model.SerializeToString()
    return serialized


def test_the_saturation_probe_is_the_model_it_says(onnx_embedder: LocalMiniLMEmbeddings) -> None:
    # The probe is kept as bytes so that loading needs no `import onnx`: built again here.

    model = products_of_127s("reverie-int8-probe", 1, SATURATION_PROBE_DEPTH, 1)
    assert base64.b64decode(SATURATION_PROBE) == model


def test_the_weights_keep_8_bits_only_where_int8_products_are_exact(
    onnx_embedder: LocalMiniLMEmbeddings,
) -> None:
    # A product that overflows int16 in pairs: exact kernels give 255 * 127 * 512, saturating
    # ones (AVX2 without VNNI) 32767 * 256; the weights' range follows what this machine does.
    import onnxruntime

    depth = 512
    session = onnxruntime.InferenceSession(
        products_of_127s("overflow", 4, depth, 384), providers=["CPUExecutionProvider"]
    )
    (found,) = session.run(["y"], {"a": np.full((4, depth), 255, dtype=np.uint8)})
    exact = bool(np.all(np.asarray(found) == 255 * 127 * depth))
    assert weight_levels() == (127 if exact else 63)
