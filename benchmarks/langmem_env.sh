#!/usr/bin/env bash
# Create .bench/langmem-venv: LangMem 0.0.30 next to Reverie, used only by the replay benchmark.
#
# LangMem's provider packages (langchain-openai, langchain-anthropic) are installed because LangMem
# imports them, but nothing in this environment talks to a provider: the benchmark's scripted
# model answers every call. Reverie itself is installed editable without dependencies; the
# dependencies the benchmark needs are listed here explicitly, so no GPU stack (torch, CUDA) is pulled.
#
# Usage: bash benchmarks/langmem_env.sh        (re-running it is safe and quick)
#        .bench/langmem-venv/bin/python -m benchmarks.replay_locomo
#        .bench/langmem-venv/bin/python -m benchmarks.langmem_api [--write]   (API data check)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.bench/langmem-venv"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# Keep the output to what matters: pip warns about every unreachable extra index.
quiet() {
    "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
    return "${PIPESTATUS[0]}"
}

quiet "${PIP[@]}" install "langmem==0.0.30"
# What Reverie's core needs (its CLI, MCP server and local embeddings are not used here).
quiet "${PIP[@]}" install "langgraph>=1.0" "langchain-core>=1.0" "langchain>=1.0" "pydantic>=2.7" "numpy>=1.26"
# Reverie and the benchmarks from this checkout, by path (like an editable install, but without
# Reverie's full dependency list).
"$VENV/bin/python" -m pip uninstall -q -y reverie >/dev/null 2>&1 || true
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf '%s\n%s\n' "$ROOT/src" "$ROOT" > "$SITE/reverie-checkout.pth"

# The benchmark must not need (or drag in) a GPU stack.
if "$VENV/bin/python" -m pip list 2>/dev/null | grep -qiE '^(torch|nvidia-|triton) '; then
    echo "error: a GPU package (torch/nvidia/triton) ended up in $VENV" >&2
    exit 1
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import langmem, reverie, trustcall  # noqa: F401
print("langmem", md.version("langmem"), "| trustcall", md.version("trustcall"),
      "| langgraph", md.version("langgraph"), "| langchain-core", md.version("langchain-core"))
PY
# The compatibility test's copy of LangMem's public API must match the LangMem installed here.
"$VENV/bin/python" -m benchmarks.langmem_api
echo "ready: $VENV"
