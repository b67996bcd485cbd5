"""Many managers writing the same namespaces at once lose nothing and duplicate nothing.

Contract under test: inserts never conflict; an update or delete lands only on the version of the
memory the model was shown. A run that finds the memory changed re-reads and asks the model again;
after ``max_conflict_retries`` it raises ``ConflictError`` having written nothing, so a caller that
runs it again gets it applied. Either way, every conversation's update survives.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from langgraph.store.base import BaseStore

from reverie import ConflictError, create_memory_store_manager
from reverie.testing import ScriptedChatModel
from tests.reliability.scripts import LEDGER, note_token_and_extend_ledger

USERS = [f"user{i}" for i in range(5)]
RUNS_PER_USER = 10  # 50 managers in all
CALLER_RETRIES = 30


def _job(user: str, n: int) -> tuple[dict, dict]:
    token = f"TOKEN-{user}-{n}"
    payload = {
        "messages": [
            {"role": "user", "content": f"Please remember my code {token} for later."},
            {"role": "assistant", "content": "Sure."},
        ]
    }
    config = {
        "configurable": {
            "langgraph_user_id": user,
            "thread_id": f"thread-{user}-{n}",
            "idempotency_key": f"job-{user}-{n}",
        }
    }
    return payload, config


def _manager(store: BaseStore):
    return create_memory_store_manager(
        ScriptedChatModel(responder=note_token_and_extend_ledger), store=store, query_limit=20
    )


def _seed(store: BaseStore) -> None:
    for user in USERS:
        store.put(("memories", user), "ledger", {"kind": "Memory", "content": {"content": LEDGER}})


def _run_sync(store: BaseStore, user: str, n: int, conflicts: Counter) -> None:
    payload, config = _job(user, n)
    for _ in range(CALLER_RETRIES):
        try:
            _manager(store).invoke(payload, config)
            return
        except ConflictError:
            conflicts[user] += 1
    raise AssertionError(f"{user}/{n} never got through")


async def _run_async(store: BaseStore, user: str, n: int, conflicts: Counter) -> None:
    payload, config = _job(user, n)
    for _ in range(CALLER_RETRIES):
        try:
            await _manager(store).ainvoke(payload, config)
            return
        except ConflictError:
            conflicts[user] += 1
    raise AssertionError(f"{user}/{n} never got through")


def run_fifty(store: BaseStore) -> Counter:
    """Odd-numbered jobs run as coroutines in one event loop, even ones as threads, all at once."""
    conflicts: Counter = Counter()
    errors: list[BaseException] = []
    jobs = [(u, n) for u in USERS for n in range(RUNS_PER_USER)]

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    async def all_async():
        await asyncio.gather(*(_run_async(store, u, n, conflicts) for u, n in jobs if n % 2 == 1))

    threads = [
        threading.Thread(target=guarded, args=(_run_sync, store, u, n, conflicts))
        for u, n in jobs
        if n % 2 == 0
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


def assert_exact_contents(store: BaseStore) -> None:
    for user in USERS:
        items = store.search(("memories", user), limit=1000)
        texts = Counter(i.value["content"]["content"] for i in items if i.key != "ledger")
        expected = Counter(f"token TOKEN-{user}-{n}" for n in range(RUNS_PER_USER))
        assert texts == expected, f"{user}: lost or duplicated inserts"
        (ledger,) = [i for i in items if i.key == "ledger"]
        words = ledger.value["content"]["content"].split()
        assert words[0] == LEDGER
        assert Counter(words[1:]) == Counter(f"TOKEN-{user}-{n}" for n in range(RUNS_PER_USER)), (
            f"{user}: a ledger update was lost or applied twice: {words}"
        )
        assert all(i.namespace == ("memories", user) for i in items)


def assert_history_matches(store: BaseStore) -> None:
    for user in USERS:
        manager = _manager(store)
        config = {"configurable": {"langgraph_user_id": user}}
        records = manager.history(config=config, limit=1000)
        actions = Counter((r.action, r.memory_key == "ledger") for r in records)
        assert actions == {("insert", False): RUNS_PER_USER, ("update", True): RUNS_PER_USER}
        ledger = [r for r in records if r.memory_key == "ledger"]
        # Each ledger update was made on top of the previous one: a chain, no forks.
        for earlier, later in zip(ledger, ledger[1:], strict=False):
            assert later.before == earlier.after
        assert {r.thread_id for r in records if r.action == "insert"} == {
            f"thread-{user}-{n}" for n in range(RUNS_PER_USER)
        }


def test_fifty_concurrent_managers_lose_and_duplicate_nothing(any_store: BaseStore) -> None:
    _seed(any_store)
    run_fifty(any_store)
    assert_exact_contents(any_store)
    assert_history_matches(any_store)


def test_a_retried_job_leaves_no_duplicates(any_store: BaseStore) -> None:
    _seed(any_store)
    payload, config = _job("user0", 0)
    first = _manager(any_store).invoke(payload, config)
    # The same job delivered again, e.g. by an at-least-once queue, on a fresh thread state.
    again = dict(config["configurable"], thread_id="redelivered")
    _manager(any_store).invoke(payload, {"configurable": again})
    items = any_store.search(("memories", "user0"), limit=100)
    texts = sorted(i.value["content"]["content"] for i in items)
    assert texts == ["ledger: TOKEN-user0-0", "token TOKEN-user0-0"]
    assert {w["key"] for w in first} <= {i.key for i in items}
