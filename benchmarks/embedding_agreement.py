"""Agreement of LocalMiniLMEmbeddings with sentence-transformers' all-MiniLM-L6-v2 (cosine per text).

sentence-transformers needs torch, which Reverie does not depend on, so the reference vectors can
come from another interpreter: ``REVERIE_ST_PYTHON=/path/to/python`` (a virtual environment with
``sentence-transformers`` installed). Without one, and without sentence-transformers importable
here, the comparison is skipped with a message.

``python -m benchmarks.embedding_agreement`` prints and writes ``results/embedding_agreement.*``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

from benchmarks.common import markdown_table, quick_mode, write_results
from benchmarks.embedding_texts import agreement_texts
from reverie.embeddings.projections import PRECISIONS, Precision

_REFERENCE_SNIPPET = """
import json, sys
from sentence_transformers import SentenceTransformer
model_dir, texts = json.load(sys.stdin)
model = SentenceTransformer(model_dir, device="cpu")
vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
json.dump(vectors.tolist(), sys.stdout)
"""


def reference_python() -> str | None:
    """An interpreter that can import sentence_transformers, or None."""
    explicit = os.environ.get("REVERIE_ST_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("sentence_transformers") is not None:
        return sys.executable
    return None


def reference_vectors(python: str, model_dir: str, texts: list[str]) -> np.ndarray:
    completed = subprocess.run(
        [python, "-c", _REFERENCE_SNIPPET],
        input=json.dumps([model_dir, texts]),
        capture_output=True,
        text=True,
        check=True,
    )
    return np.asarray(json.loads(completed.stdout), dtype=np.float64)


def compare(texts: list[str], python: str, precision: Precision = "auto") -> dict[str, float]:
    from reverie.embeddings import LocalMiniLMEmbeddings

    local = LocalMiniLMEmbeddings(precision=precision)
    ours = np.asarray(local.embed_documents(texts), dtype=np.float64)
    # Queries may take another precision than documents ("auto": int8).
    queries = np.asarray([local.embed_query(text) for text in texts], dtype=np.float64)
    theirs = reference_vectors(python, str(local.model_dir), texts)
    cosines = np.sum(ours * theirs, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    query_cosines = np.sum(queries * theirs, axis=1) / (
        np.linalg.norm(queries, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    return {
        "texts": float(len(texts)),
        "min_cosine": float(cosines.min()),
        "mean_cosine": float(cosines.mean()),
        "max_abs_diff": float(np.abs(ours - theirs).max()),
        "query_min_cosine": float(query_cosines.min()),
        "query_mean_cosine": float(query_cosines.mean()),
    }


def run(quick: bool) -> None:
    python = reference_python()
    if python is None:
        print(
            "embedding_agreement: skipped (set REVERIE_ST_PYTHON to a python with sentence-transformers)"
        )
        return
    from reverie.embeddings.projections import resolve_precision, resolve_query_precision

    texts = agreement_texts(quick)
    results = {
        (
            f"{precision} ({resolve_precision(precision)}, queries "
            f"{resolve_query_precision(precision)})"
            if precision == "auto"
            else precision
        ): (compare(texts, python, precision))
        for precision in PRECISIONS
    }
    table = markdown_table(
        [
            "precision",
            "texts",
            "min cosine",
            "mean cosine",
            "max |difference|",
            "as queries: min cosine",
            "as queries: mean cosine",
        ],
        [
            [
                precision,
                int(stats["texts"]),
                f"{stats['min_cosine']:.7f}",
                f"{stats['mean_cosine']:.7f}",
                f"{stats['max_abs_diff']:.2e}",
                f"{stats['query_min_cosine']:.7f}",
                f"{stats['query_mean_cosine']:.7f}",
            ]
            for precision, stats in results.items()
        ],
    )
    write_results(
        "embedding_agreement", {"reference": "sentence-transformers", "precisions": results}, table
    )


if __name__ == "__main__":
    run(quick_mode() or "--quick" in sys.argv)
