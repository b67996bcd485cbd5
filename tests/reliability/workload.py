"""The stress workload: jobs, managers and the exact contents they must leave behind.

Every job ``(user, n)`` is one conversation carrying the unique token ``TOKEN-<user>-<n>``. Its
manager inserts ``token TOKEN-<user>-<n>`` and appends the token to the user's ledger memory. So
after all jobs, each namespace must hold each token memory exactly once and a ledger naming every
token exactly once: a lost insert, a duplicate or a lost update all show.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie import ConflictError, MemoryStoreManager, create_memory_store_manager
from reverie.testing import ScriptedChatModel
from tests.reliability.scripts import LEDGER, note_token_and_extend_ledger

CALLER_RETRIES = 30

Job = tuple[str, int]


def job_input(user: str, n: int) -> tuple[dict[str, Any], RunnableConfig]:
    token = f"TOKEN-{user}-{n}"
    payload = {
        "messages": [
            {"role": "user", "content": f"Please remember my code {token} for later."},
            {"role": "assistant", "content": "Sure."},
        ]
    }
    config: RunnableConfig = {
        "configurable": {
            "langgraph_user_id": user,
            "thread_id": f"thread-{user}-{n}",
            "idempotency_key": f"job-{user}-{n}",
        }
    }
    return payload, config


def make_manager(store: BaseStore) -> MemoryStoreManager:
    return create_memory_store_manager(
        ScriptedChatModel(responder=note_token_and_extend_ledger), store=store, query_limit=20
    )


def seed(store: BaseStore, users: Sequence[str]) -> None:
    for user in users:
        store.put(("memories", user), "ledger", {"kind": "Memory", "content": {"content": LEDGER}})


def run_sync(store: BaseStore, job: Job, conflicts: Counter) -> None:
    """A caller that runs the job again when it gives up on a conflict (nothing was written)."""
    payload, config = job_input(*job)
    for _ in range(CALLER_RETRIES):
        try:
            make_manager(store).invoke(payload, config)
            return
        except ConflictError:
            conflicts[job[0]] += 1
    raise AssertionError(f"{job} never got through")


async def run_async(store: BaseStore, job: Job, conflicts: Counter) -> None:
    payload, config = job_input(*job)
    for _ in range(CALLER_RETRIES):
        try:
            await make_manager(store).ainvoke(payload, config)
            return
        except ConflictError:
            conflicts[job[0]] += 1
    raise AssertionError(f"{job} never got through")


def run_concurrently(store: BaseStore, jobs: Sequence[Job]) -> Counter:
    """Odd-numbered jobs run as coroutines in one event loop, even ones as threads, all at once."""
    conflicts: Counter = Counter()
    errors: list[BaseException] = []

    def guarded(fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    async def all_async() -> None:
        await asyncio.gather(*(run_async(store, job, conflicts) for job in jobs if job[1] % 2))

    threads = [
        threading.Thread(target=guarded, args=(run_sync, store, job, conflicts))
        for job in jobs
        if job[1] % 2 == 0
    ]
    threads.append(threading.Thread(target=guarded, args=(asyncio.run, all_async())))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]
    return conflicts


def assert_exact_contents(store: BaseStore, users: Sequence[str], runs: int) -> None:
    for user in users:
        items = store.search(("memories", user), limit=1000)
        texts = Counter(i.value["content"]["content"] for i in items if i.key != "ledger")
        expected = Counter(f"token TOKEN-{user}-{n}" for n in range(runs))
        assert texts == expected, f"{user}: lost or duplicated inserts"
        (ledger,) = [i for i in items if i.key == "ledger"]
        words = ledger.value["content"]["content"].split()
        assert words[0] == LEDGER
        assert Counter(words[1:]) == Counter(f"TOKEN-{user}-{n}" for n in range(runs)), (
            f"{user}: a ledger update was lost or applied twice: {words}"
        )
        assert all(tuple(i.namespace) == ("memories", user) for i in items)


def assert_history_matches(store: BaseStore, users: Sequence[str], runs: int) -> None:
    for user in users:
        config: RunnableConfig = {"configurable": {"langgraph_user_id": user}}
        records = make_manager(store).history(config=config, limit=1000)
        actions = Counter((r.action, r.memory_key == "ledger") for r in records)
        assert actions == {("insert", False): runs, ("update", True): runs}
        ledger = [r for r in records if r.memory_key == "ledger"]
        # Each ledger update was made on top of the previous one: a chain, no forks.
        for earlier, later in zip(ledger, ledger[1:], strict=False):
            assert later.before == earlier.after
        assert {r.thread_id for r in records if r.action == "insert"} == {
            f"thread-{user}-{n}" for n in range(runs)
        }


def process_worker(target: str, jobs: list[Job]) -> int:
    """Entry point of one process of the multi-process stress tests: its jobs, concurrently, on
    the store at ``target`` (a file path or a postgresql:// URL)."""
    from reverie.stores import open_store
    from reverie.testing import hashing_index

    store = open_store(target, index=hashing_index())
    try:
        return sum(run_concurrently(store, jobs).values())
    finally:
        store.close()
