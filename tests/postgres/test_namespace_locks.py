"""Commits and writing batches lock only the namespaces they touch, and never deadlock.

Another session holding one namespace's lock (as a commit between its check and its write
does) holds up commits and plain puts to that namespace only.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from langgraph.store.base import PutOp

from reverie.core.ports import Expectation
from reverie.stores.postgres import (
    ReveriePostgresStore,
    open_async_postgres_store,
    open_postgres_store,
)
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

ALICE = ("memories", "alice")
BOB = ("memories", "bob")


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def store(url: str) -> Iterator[ReveriePostgresStore]:
    with open_postgres_store(url, index=hashing_index()) as store:
        yield store


class HeldNamespaceLock:
    """A transaction of another session holding one namespace's commit lock."""

    def __init__(self, url: str, namespace: tuple[str, ...]) -> None:
        self.conn = psycopg.connect(url)
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('reverie:ns:' || %s, 0))",
            (".".join(namespace),),
        )

    def release(self) -> None:
        self.conn.commit()
        self.conn.close()


def in_background(call: Callable[[], object]) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def test_a_held_namespace_holds_up_only_its_own_writers(
    url: str, store: ReveriePostgresStore
) -> None:
    held = HeldNamespaceLock(url, ALICE)
    try:
        alice_commit = in_background(
            lambda: store.commit([Expectation(ALICE, "k", None)], [PutOp(ALICE, "k", {"n": 1})])
        )
        alice_put = in_background(lambda: store.put(ALICE, "p", {"n": 2}))
        bob_commit = in_background(
            lambda: store.commit([Expectation(BOB, "k", None)], [PutOp(BOB, "k", {"n": 3})])
        )
        bob_put = in_background(lambda: store.put(BOB, "p", {"n": 4}))
        assert bob_commit.wait(30) and bob_put.wait(30), "Bob waited for Alice's lock"
        assert store.get(ALICE, "missing") is None  # reads never wait
        assert not alice_commit.wait(0.5) and not alice_put.is_set()
        assert store.get(ALICE, "k") is None and store.get(ALICE, "p") is None
    finally:
        held.release()
    assert alice_commit.wait(30) and alice_put.wait(30)
    assert store.get(ALICE, "k") is not None and store.get(ALICE, "p") is not None


async def test_async_commits_wait_for_their_namespace_only(url: str) -> None:
    async with await open_async_postgres_store(url, index=hashing_index()) as store:
        held = HeldNamespaceLock(url, ALICE)
        try:
            alice = asyncio.ensure_future(
                store.acommit([Expectation(ALICE, "k", None)], [PutOp(ALICE, "k", {"n": 1})])
            )
            bob = await asyncio.wait_for(
                store.acommit([Expectation(BOB, "k", None)], [PutOp(BOB, "k", {"n": 2})]), 30
            )
            assert bob.committed
            await asyncio.sleep(0.5)
            assert not alice.done()
        finally:
            await asyncio.to_thread(held.release)
        assert (await asyncio.wait_for(alice, 30)).committed


def test_overlapping_commits_in_any_order_lose_nothing_and_never_deadlock(
    store: ReveriePostgresStore,
) -> None:
    """Each commit increments a counter in several namespaces (listed in random order) with a
    checked read-modify-write; every increment lands exactly once."""
    spaces = [("counters", name) for name in "abcd"]
    assert store.commit([], [PutOp(ns, "n", {"n": 0}) for ns in spaces])
    expected_counts = dict.fromkeys(spaces, 0)
    plans = []
    rng = random.Random(7)
    for _ in range(48):
        chosen = rng.sample(spaces, rng.randint(2, 4))
        plans.append(chosen)
        for ns in chosen:
            expected_counts[ns] += 1

    def increment(chosen: list[tuple[str, str]]) -> int:
        attempts = 0
        while True:
            attempts += 1
            seen = [store.get(ns, "n") for ns in chosen]
            writes = [PutOp(ns, "n", {"n": item.value["n"] + 1}) for ns, item in zip(chosen, seen, strict=True) if item]  # fmt: skip
            if store.commit([Expectation.of(item) for item in seen if item], writes):
                return attempts

    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(increment, plans))

    def count(ns: tuple[str, str]) -> int:
        item = store.get(ns, "n")
        assert item is not None
        return item.value["n"]

    counts = {ns: count(ns) for ns in spaces}
    assert counts == expected_counts
    assert sum(attempts) >= len(plans)
