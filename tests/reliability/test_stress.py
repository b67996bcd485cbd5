"""Many managers writing the same namespaces at once lose nothing and duplicate nothing.

Contract under test: inserts never conflict; an update or delete lands only on the version of the
memory the model was shown. A run that finds the memory changed re-reads and asks the model again;
after ``max_conflict_retries`` it raises ``ConflictError`` having written nothing, so a caller that
runs it again gets it applied. Either way, every conversation's update survives.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from langgraph.store.base import BaseStore

from reverie.testing import hashing_index
from tests.reliability.workload import (
    assert_exact_contents,
    assert_history_matches,
    job_input,
    make_manager,
    process_worker,
    run_concurrently,
    seed,
)

USERS = [f"user{i}" for i in range(5)]
RUNS_PER_USER = 10  # 50 managers in all


def test_fifty_concurrent_managers_lose_and_duplicate_nothing(any_store: BaseStore) -> None:
    seed(any_store, USERS)
    run_concurrently(any_store, [(u, n) for u in USERS for n in range(RUNS_PER_USER)])
    assert_exact_contents(any_store, USERS, RUNS_PER_USER)
    assert_history_matches(any_store, USERS, RUNS_PER_USER)


def test_a_retried_job_leaves_no_duplicates(any_store: BaseStore) -> None:
    seed(any_store, ["user0"])
    payload, config = job_input("user0", 0)
    first = make_manager(any_store).invoke(payload, config)
    # The same job delivered again, e.g. by an at-least-once queue, on a fresh thread state.
    again = dict(config["configurable"], thread_id="redelivered")
    make_manager(any_store).invoke(payload, {"configurable": again})
    items = any_store.search(("memories", "user0"), limit=100)
    texts = sorted(i.value["content"]["content"] for i in items)
    assert texts == ["ledger: TOKEN-user0-0", "token TOKEN-user0-0"]
    assert {w["key"] for w in first} <= {i.key for i in items}


def test_managers_in_four_processes_share_the_embedded_store(tmp_path: Path) -> None:
    from reverie.stores.embedded import EmbeddedStore

    users, runs, processes = ["user0", "user1"], 12, 4
    path = str(tmp_path / "shared.db")
    with EmbeddedStore(path, index=hashing_index()) as store:
        seed(store, users)
    jobs = [(u, n) for u in users for n in range(runs)]
    shares = [jobs[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(process_worker, [path] * processes, shares))
    with EmbeddedStore(path, index=hashing_index()) as store:
        assert_exact_contents(store, users, runs)
        assert_history_matches(store, users, runs)
