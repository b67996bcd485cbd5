"""TTL on the PostgreSQL stores (LangGraph's ``TTLConfig``), and the store without an index.

Refreshes are checked on ``expires_at`` itself, set by the server's clock, so no assertion
depends on how fast this machine runs; one test also waits for real expiry.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from langgraph.store.base import PutOp, TTLConfig

from reverie.stores.postgres import (
    ReverieAsyncPostgresStore,
    ReveriePostgresStore,
    open_async_postgres_store,
    open_postgres_store,
)
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database

pytestmark = pytest.mark.postgres

NS = ("memories", "alice")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def later(after: datetime | None, before: datetime | None) -> bool:
    """Whether an expiry moved forward (both are set)."""
    assert after is not None and before is not None
    return after > before


def expiries(url: str) -> dict[str, datetime | None]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT key, expires_at FROM store").fetchall()
    return {key: expires for key, expires in rows}


def row_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM store").fetchone()
    assert row is not None
    return int(row[0])


def fill(store: ReveriePostgresStore) -> None:
    for key in "abcd":
        store.put(NS, key, {"text": f"note {key}", "k": key})


def test_default_ttl_from_the_opener_and_refresh_on_get_and_search(url: str) -> None:
    with open_postgres_store(url, index=hashing_index(), ttl={"default_ttl": 60}) as store:
        fill(store)
        store.put(NS, "forever", {"text": "kept"}, ttl=None)
        before = expiries(url)
        assert before["forever"] is None and all(before[k] for k in "abcd")
        time.sleep(0.01)
        assert store.get(NS, "a") is not None  # refreshes by default
        assert store.get(NS, "b", refresh_ttl=False) is not None
        assert [i.key for i in store.search(NS, filter={"k": "c"})] == ["c"]
        assert [i.key for i in store.search(NS, query="note d", refresh_ttl=False, limit=1)]
        after = expiries(url)
    assert later(after["a"], before["a"]) and later(after["c"], before["c"])
    assert after["b"] == before["b"] and after["d"] == before["d"]
    assert after["forever"] is None


def test_refresh_on_read_false_makes_reads_keep_the_expiry(url: str) -> None:
    config: TTLConfig = {"default_ttl": 60, "refresh_on_read": False}
    with open_postgres_store(url, ttl=config) as store:
        fill(store)
        before = expiries(url)
        time.sleep(0.01)
        store.get(NS, "a")
        store.search(NS)
        assert expiries(url) == before
        store.get(NS, "a", refresh_ttl=True)
        assert later(expiries(url)["a"], before["a"])


async def test_async_store_refreshes_on_get_and_search(url: str) -> None:
    async with await open_async_postgres_store(
        url, index=hashing_index(), ttl={"default_ttl": 60}
    ) as store:
        for key in "abcd":
            await store.aput(NS, key, {"text": f"note {key}", "k": key})
        before = expiries(url)
        await asyncio.sleep(0.01)
        await store.aget(NS, "a")
        await store.aget(NS, "b", refresh_ttl=False)
        await store.asearch(NS, filter={"k": "c"})
        await store.asearch(NS, filter={"k": "d"}, refresh_ttl=False)
        after = expiries(url)
    assert later(after["a"], before["a"]) and later(after["c"], before["c"])
    assert after["b"] == before["b"] and after["d"] == before["d"]


def test_expired_items_are_never_returned_and_sweep_deletes_them(url: str) -> None:
    with open_postgres_store(url, index=hashing_index()) as store:
        store.put(NS, "short", {"text": "gone soon"}, ttl=1 / 60)  # one second
        store.put(NS, "long", {"text": "stays"}, ttl=60)
        store.put(("other",), "short", {"text": "gone soon"}, ttl=1 / 60)
        assert store.get(NS, "short") is not None
        time.sleep(1.2)
        assert store.get(NS, "short") is None
        assert [i.key for i in store.search(NS)] == ["long"]
        assert [i.key for i in store.search(NS, query="gone soon")] == ["long"]
        assert store.list_namespaces() == [NS]
        assert row_count(url) == 3  # not swept yet, only hidden
        assert store.sweep_ttl() == 2
        assert row_count(url) == 1
        # A key whose item expired is new again when written.
        store.put(NS, "short", {"text": "back"})
        item = store.get(NS, "short")
        assert item is not None and item.value == {"text": "back"}


def test_a_commit_honours_put_ttl(url: str) -> None:
    with open_postgres_store(url, index=hashing_index()) as store:
        assert store.commit([], [PutOp(NS, "t", {"text": "x"}, ttl=5), PutOp(NS, "n", {"t": 1})])
        found = expiries(url)
    assert found["t"] is not None and found["n"] is None


def test_sync_sweeper_starts_and_stops(url: str) -> None:
    with open_postgres_store(url, ttl={"default_ttl": 1 / 600}) as store:  # 0.1 s
        fill(store)
        future = store.start_ttl_sweeper(sweep_interval_minutes=0.2 / 60)
        assert store.start_ttl_sweeper() is future  # already running
        deadline = time.monotonic() + 20
        while row_count(url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert row_count(url) == 0
        assert store.stop_ttl_sweeper(timeout=5)
        assert future.result(timeout=5) is None
        store.put(NS, "later", {"text": "x"})
        assert store.stop_ttl_sweeper() is True  # nothing running


def test_sync_sweeper_stops_when_its_future_is_cancelled(url: str) -> None:
    with open_postgres_store(url, ttl={"default_ttl": 5}) as store:
        future = store.start_ttl_sweeper(sweep_interval_minutes=1)
        assert future.cancel()
        assert store.stop_ttl_sweeper(timeout=5)


def test_without_ttl_config_the_sweeper_does_nothing(url: str) -> None:
    with open_postgres_store(url) as store:
        future = store.start_ttl_sweeper()
        assert future.done() and future.result() is None
        assert store.stop_ttl_sweeper()


async def test_async_sweeper_starts_and_stops(url: str) -> None:
    store: ReverieAsyncPostgresStore
    async with await open_async_postgres_store(url, ttl={"default_ttl": 1 / 600}) as store:
        for key in "abc":
            await store.aput(NS, key, {"text": key})
        task = await store.start_ttl_sweeper(sweep_interval_minutes=0.2 / 60)
        assert await store.start_ttl_sweeper() is task
        deadline = time.monotonic() + 20
        while row_count(url) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert row_count(url) == 0
        assert await store.stop_ttl_sweeper(timeout=5)
        assert task.done()


def test_without_index_it_is_a_key_value_store(url: str) -> None:
    with open_postgres_store(url) as store:
        assert store.embeddings is None and store.index_config is None
        for key in ("b", "a", "c"):
            store.put(NS, key, {"text": f"note {key}"})
        hits = store.search(NS, query="note a")
        assert [(h.key, h.score) for h in hits] == [("b", None), ("a", None), ("c", None)]
        assert store.commit([], [PutOp(NS, "d", {"text": "x"})])
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('store_vectors')").fetchone() == (None,)


def test_opening_without_index_loads_no_embedder(url: str) -> None:
    code = (
        "import sys; from reverie.stores.postgres import open_postgres_store; "
        f"open_postgres_store({url!r}).close(); "
        "print(sorted(m for m in sys.modules if m.startswith('reverie.embeddings')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
