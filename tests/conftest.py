from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from langgraph.store.base import BaseStore

from reverie.testing import hashing_index
from tests.store_factories import FACTORIES

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Query graphs the tests build are kept in a folder of this run, not in the user's cache.
os.environ.setdefault("REVERIE_CACHE_DIR", tempfile.mkdtemp(prefix="reverie-test-cache-"))
REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "REVERIE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:55432/postgres"
)


def _postgres_listening() -> bool:
    parts = urlsplit(POSTGRES_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


# Whether this test session started the server, so it stops it at the end: a server left running
# outlives its checkout (a deleted clone's server would still hold the port).
_STARTED: list[bool] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the throwaway PostgreSQL server the Postgres-backed tests need, where we may.

    As root (CI runs as root) the tests install and start it themselves with
    ``scripts/postgres.sh``; elsewhere they skip with instructions, except in CI where a missing
    server fails them. Only the default local URL is managed: a server named by
    ``REVERIE_TEST_POSTGRES_URL`` is the user's own.
    """
    if _postgres_listening() or "REVERIE_TEST_POSTGRES_URL" in os.environ:
        return
    if os.geteuid() != 0 and not IN_CI:
        return
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "postgres.sh"), "start"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        # The tests themselves then fail in CI with the reason; show the script's own words too.
        print(f"scripts/postgres.sh start failed:\n{result.stdout}{result.stderr}")
    else:
        _STARTED.append(True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _STARTED:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres.sh"), "stop"],
            capture_output=True,
            check=False,
        )


@pytest.fixture(params=sorted(FACTORIES))
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def any_store(store_kind: str, tmp_path: Path) -> Iterator[BaseStore]:
    """A fresh store of every backend, indexed with the deterministic hashing embedder."""
    with FACTORIES[store_kind](tmp_path, hashing_index()) as store:
        yield store


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many PostgreSQL-backed tests ran, so a CI log shows they were not skipped."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        reports = terminalreporter.stats.get(outcome, [])
        counts[outcome] = sum(
            1
            for report in reports
            if getattr(report, "when", "call") in ("call", "setup")
            and ("postgres" in report.nodeid or "durable" in report.nodeid)
            and (outcome != "passed" or report.when == "call")
        )
    terminalreporter.write_line(
        "PostgreSQL-backed tests: "
        + ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n or outcome == "passed")
        + f" (server {POSTGRES_URL})"
    )
