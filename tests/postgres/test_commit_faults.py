"""A process killed in the middle of a commit leaves all of it or none of it.

A child process opens the store and commits two memories with the same value. Variants: it is
stopped inside the commit's transaction (after its expectations were checked and the rows were
written, before the transaction commits), after the commit returned, or after a commit whose
expectation failed. The parent SIGKILLs it and looks at what a fresh store sees.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from langgraph.store.base import PutOp

from reverie.core.ports import Expectation
from reverie.stores.postgres import ReveriePostgresStore, open_postgres_store
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
NS = ("memories", "alice")
SAME = {"kind": "Memory", "content": {"content": "lives in Porto"}}

CHILD = """
import sys, time
from langgraph.store.base import PutOp
from reverie.core.ports import Expectation
from reverie.stores.postgres import commit as commit_plan, open_postgres_store
from reverie.testing import hashing_index

url, mode = sys.argv[1], sys.argv[2]
NS = ("memories", "alice")
SAME = {"kind": "Memory", "content": {"content": "lives in Porto"}}
store = open_postgres_store(url, index=hashing_index(), pool_size=1)

if mode == "inside":
    write_rows = commit_plan.write_rows

    def stalled(*args):
        steps = write_rows(*args)
        rows = yield next(steps)  # the first write statement runs, inside the transaction
        print("WRITTEN, NOT COMMITTED", flush=True)
        time.sleep(600)

    commit_plan.write_rows = stalled

expected = [Expectation(NS, "a", None), Expectation(NS, "b", None)]
if mode == "refused":
    expected = [Expectation(NS, "a", {"kind": "Memory"})]  # "a" is absent: this fails
result = store.commit(expected, [PutOp(NS, "a", SAME), PutOp(NS, "b", SAME)])
print("COMMITTED" if result.committed else "REFUSED", flush=True)
time.sleep(600)
"""


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as url:
        open_postgres_store(url, index=hashing_index()).close()  # tables exist before the child
        yield url


def run_child_until(url: str, mode: str, line: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    timer = threading.Timer(60, child.kill)  # never hang the suite on a child that goes wrong
    timer.start()
    try:
        said = child.stdout.readline().strip()
    finally:
        timer.cancel()
    if said != line:
        child.kill()
        _, err = child.communicate(timeout=30)
        pytest.fail(f"child said {said!r}, expected {line!r}; stderr:\n{err}")
    return child


def kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def keys_seen(store: ReveriePostgresStore) -> tuple[list[str], list[str]]:
    """What a reader sees: the keys listed, and the keys a vector search finds."""
    listed = sorted(item.key for item in store.search(NS))
    found = sorted(item.key for item in store.search(NS, query="lives in Porto") if item.score)
    return listed, found


def test_killed_inside_the_commit_leaves_none_of_it(url: str) -> None:
    child = run_child_until(url, "inside", "WRITTEN, NOT COMMITTED")
    try:
        with psycopg.connect(url) as conn:
            # The rows are written but not committed, and the child holds its namespace's lock.
            assert conn.execute("SELECT count(*) FROM store").fetchone() == (0,)
            locks = conn.execute(
                # This database's locks only: other tests share the server.
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            assert locks == (1,)
    finally:
        kill(child)
    with open_postgres_store(url, index=hashing_index()) as store:
        assert keys_seen(store) == ([], [])
        assert store.get(NS, "a") is None and store.get(NS, "b") is None
        # The dead process's lock went with it: the same commit now goes through at once.
        expected = [Expectation(NS, "a", None), Expectation(NS, "b", None)]
        assert store.commit(expected, [PutOp(NS, "a", SAME), PutOp(NS, "b", SAME)])
        assert keys_seen(store) == (["a", "b"], ["a", "b"])


def test_killed_after_the_commit_returned_keeps_all_of_it(url: str) -> None:
    kill(run_child_until(url, "committed", "COMMITTED"))
    with open_postgres_store(url, index=hashing_index()) as store:
        assert keys_seen(store) == (["a", "b"], ["a", "b"])
        for key in ("a", "b"):
            item = store.get(NS, key)
            assert item is not None and item.value == SAME


def test_killed_after_a_refused_commit_leaves_nothing(url: str) -> None:
    kill(run_child_until(url, "refused", "REFUSED"))
    with open_postgres_store(url, index=hashing_index()) as store:
        assert keys_seen(store) == ([], [])
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM store_vectors").fetchone() == (0,)
