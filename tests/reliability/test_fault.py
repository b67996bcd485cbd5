"""A process killed (SIGKILL) while writing leaves the embedded store consistent.

Each manager run commits its memory, its ledger update, their audit records and the thread's
progress in one transaction. So after any number of kills, on reopening: every memory is whole,
the ledger names exactly the tokens whose memories exist, the audit trail matches the memories,
and a thread is marked processed exactly when its memory exists. Running the jobs again then
finishes the work without duplicates.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig

from reverie.testing import hashing_index
from tests.reliability.workload import (
    assert_exact_contents,
    assert_history_matches,
    job_input,
    make_manager,
    seed,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")

USER = "user0"
JOBS = 40


def _kill_mid_run(path: Path, rng: random.Random) -> int:
    """Start a writer, let it finish a few runs, then SIGKILL it while it works. Returns how many
    runs it reported done."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.fault_worker", str(path), USER, str(JOBS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    wanted, done = rng.randint(2, 8), 0
    try:
        for _ in child.stdout:
            done += 1
            if done >= wanted:
                break
        else:
            pytest.fail(f"the writer exited early: {child.stderr.read() if child.stderr else ''}")
        # Kill it somewhere inside a following run: its model call, its commit, anywhere.
        time.sleep(rng.uniform(0, 0.02))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return done


def _assert_consistent(path: Path) -> set[int]:
    from reverie.stores.embedded import EmbeddedStore

    with EmbeddedStore(path, index=hashing_index()) as store:
        items = store.search(("memories", USER), limit=1000)
        for item in items:  # whole values only
            assert set(item.value) == {"kind", "content"} and item.value["kind"] == "Memory"
            assert isinstance(item.value["content"]["content"], str)
        tokens = Counter(
            i.value["content"]["content"].removeprefix("token ") for i in items if i.key != "ledger"
        )
        assert all(count == 1 for count in tokens.values()), f"duplicates: {tokens}"
        (ledger,) = [i for i in items if i.key == "ledger"]
        assert Counter(ledger.value["content"]["content"].split()[1:]) == tokens

        manager = make_manager(store)
        config: RunnableConfig = {"configurable": {"langgraph_user_id": USER}}
        trail = manager.history(config=config, limit=None)
        inserted = {r.memory_key for r in trail if r.action == "insert"}
        assert inserted == {i.key for i in items if i.key != "ledger"}
        ledger_trail = [r for r in trail if r.memory_key == "ledger"]
        assert len(ledger_trail) == len(tokens)
        if ledger_trail:
            assert ledger_trail[-1].after == ledger.value
        done = {int(t.rsplit("-", 1)[1]) for t in tokens}
        progress = {
            int(i.key.rsplit("-", 1)[1])
            for i in store.search(("__reverie__", "threads", "memories", USER), limit=1000)
        }
        assert progress == done, "a thread's progress and its memories were not written together"
        return done


def test_killed_writers_leave_the_store_consistent(tmp_path: Path) -> None:
    from reverie.stores.embedded import EmbeddedStore

    path = tmp_path / "memories.db"
    with EmbeddedStore(path, index=hashing_index()) as store:
        seed(store, [USER])
    rng = random.Random(8)
    finished: set[int] = set()
    for _ in range(3):
        reported = _kill_mid_run(path, rng)
        done = _assert_consistent(path)
        assert done >= finished and len(done) >= reported
        finished = done
    assert finished, "no writer got anything done before being killed"

    # A new writer (queueing on the same SQLite write lock the dead ones held) finishes the jobs.
    with EmbeddedStore(path, index=hashing_index()) as store:
        manager = make_manager(store)
        for n in range(JOBS):
            manager.invoke(*job_input(USER, n))
        assert_exact_contents(store, [USER], JOBS)
        assert_history_matches(store, [USER], JOBS)
