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


def _across_processes(target: str, users: list[str], runs: int, processes: int) -> None:
    from reverie.stores import open_store

    store = open_store(target, index=hashing_index())
    try:
        seed(store, users)
    finally:
        store.close()
    jobs = [(u, n) for u in users for n in range(runs)]
    shares = [jobs[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(process_worker, [target] * processes, shares))
    store = open_store(target, index=hashing_index())
    try:
        assert_exact_contents(store, users, runs)
        assert_history_matches(store, users, runs)
    finally:
        store.close()


def test_managers_in_four_processes_share_the_embedded_store(tmp_path: Path) -> None:
    _across_processes(str(tmp_path / "shared.db"), ["user0", "user1"], runs=12, processes=4)


def test_managers_in_three_processes_share_postgres() -> None:
    from tests.postgres.support import fresh_database

    with fresh_database() as url:
        _across_processes(url, ["user0", "user1"], runs=9, processes=3)
