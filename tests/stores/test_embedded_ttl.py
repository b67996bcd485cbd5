"""Item lifetimes in the embedded store: refresh on read (get, search, namespace search),
expiry, sweeps, and the background sweeper with LangGraph's start/stop contract."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langgraph.store.base import GetOp, PutOp, SearchOp, TTLConfig

from reverie.core.errors import StoreError
from reverie.core.ports import NamespaceSearch
from reverie.stores.embedded import EmbeddedStore
from reverie.stores.embedded.sweeper import Sweeper
from tests.stores.embedded_helpers import found_keys, indexed

NS = ("memories", "alice")
SWEEPER_THREAD = "reverie-ttl-sweeper"


def expires_at(path: Path, key: str) -> float | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT expires_at FROM items WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def stored_rows(path: Path, table: str = "items") -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def sweeper_threads() -> int:
    return sum(t.name == SWEEPER_THREAD and t.is_alive() for t in threading.enumerate())


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "m.db"


def open_store(path: Path, ttl: TTLConfig | None = None) -> EmbeddedStore:
    return EmbeddedStore(path, index=indexed(), ttl=ttl)


ReadOp = GetOp | SearchOp | NamespaceSearch
READS: dict[str, Callable[[bool | None], ReadOp]] = {
    "get": lambda refresh: GetOp(NS, "k", refresh_ttl=True if refresh is None else refresh),
    "search": lambda refresh: SearchOp(
        NS, query="tea", refresh_ttl=True if refresh is None else refresh
    ),
    "search, no query": lambda refresh: SearchOp(
        NS, refresh_ttl=True if refresh is None else refresh
    ),
    "namespace search": lambda refresh: NamespaceSearch(NS, query="tea", refresh_ttl=refresh),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_reads_restart_an_items_lifetime_unless_told_not_to(path: Path, read: str) -> None:
    with open_store(path) as store:
        store.put(NS, "k", {"text": "likes green tea"}, ttl=10)
        store.put(NS, "other", {"text": "plays chess"}, ttl=10)
        first = expires_at(path, "k")
        time.sleep(0.02)
        store.batch([READS[read](False)])
        assert expires_at(path, "k") == first, "refresh_ttl=False must leave the lifetime alone"
        store.batch([READS[read](True)])
        second = expires_at(path, "k")
        assert first is not None and second is not None and second > first
        assert second - time.time() == pytest.approx(600, abs=5)


def test_refresh_on_read_false_in_the_config_is_the_reads_default(path: Path) -> None:
    with open_store(path, ttl={"refresh_on_read": False}) as store:
        store.put(NS, "k", {"text": "likes green tea"}, ttl=10)
        first = expires_at(path, "k")
        time.sleep(0.02)
        store.get(NS, "k")  # BaseStore.get resolves the default from the config
        store.search(NS, query="tea")
        store.batch([NamespaceSearch(NS, query="tea")])
        assert expires_at(path, "k") == first
        store.batch([NamespaceSearch(NS, query="tea", refresh_ttl=True)])
        refreshed = expires_at(path, "k")
        assert first is not None and refreshed is not None and refreshed > first


def test_a_refreshed_item_outlives_its_first_deadline(path: Path) -> None:
    with open_store(path) as store:
        store.put(NS, "k", {"text": "likes green tea"}, ttl=0.02)  # 1.2 s
        store.put(NS, "unread", {"text": "likes green tea too"}, ttl=0.02)
        time.sleep(0.8)
        assert store.get(NS, "k") is not None  # restarts its 1.2 s
        time.sleep(0.8)  # past both first deadlines
        assert store.get(NS, "unread", refresh_ttl=False) is None
        assert store.get(NS, "k", refresh_ttl=False) is not None


def test_expired_items_vanish_from_every_read_and_sweeps_reclaim_them(path: Path) -> None:
    with open_store(path) as store:
        store.put(NS, "brief", {"text": "gone soon"}, ttl=0.0001)  # 6 ms
        store.put(("memories", "bob"), "brief", {"text": "gone soon"}, ttl=0.0001)
        store.put(NS, "kept", {"text": "stays"}, ttl=60)
        store.put(NS, "forever", {"text": "no ttl"})
        time.sleep(0.05)
        assert store.get(NS, "brief") is None
        assert {i.key for i in store.search(NS, query="gone soon")} == {"kept", "forever"}
        assert {i.key for i in store.search(NS)} == {"kept", "forever"}
        (found,) = store.batch([NamespaceSearch(NS, query="gone soon")])
        assert set(found_keys(found)) == {"kept", "forever"}
        assert store.list_namespaces() == [NS]
        assert stored_rows(path) == 4, "expired rows stay until a sweep"
        assert store.sweep_ttl() == 2
        assert stored_rows(path) == 2 and stored_rows(path, "vectors") == 2
        assert {i.key for i in store.search(NS, query="gone soon")} == {"kept", "forever"}


def test_writes_sweep_now_and_then(path: Path) -> None:
    with open_store(path, ttl={"sweep_interval_minutes": 1}) as store:
        store.put(NS, "brief", {"text": "gone soon"}, ttl=0.0001)  # the first write sweeps
        time.sleep(0.05)
        store.put(NS, "later", {"text": "within the interval: no sweep"})
        assert stored_rows(path) == 2
    with open_store(path, ttl={"sweep_interval_minutes": 1}) as store:
        store.put(NS, "again", {"text": "a new store object sweeps at its first write"})
        assert stored_rows(path) == 2 and store.get(NS, "brief") is None


def test_the_sweeper_deletes_expired_items_in_the_background(path: Path) -> None:
    with open_store(path, ttl={"sweep_interval_minutes": 60}) as store:
        store.batch([PutOp(NS, f"k{i}", {"text": f"note {i}"}, ttl=0.0001) for i in range(5)])
        store.put(NS, "kept", {"text": "stays"})
        time.sleep(0.05)
        future = store.start_ttl_sweeper(sweep_interval_minutes=0.001)  # every 60 ms
        assert not future.done() and sweeper_threads() == 1
        assert wait_until(lambda: stored_rows(path) == 1), "the sweeper never swept"
        assert store.stop_ttl_sweeper(timeout=10)
        assert future.result(timeout=10) is None and sweeper_threads() == 0
        assert store.stop_ttl_sweeper() is True, "stopping a stopped sweeper is fine"
        assert [i.key for i in store.search(NS)] == ["kept"]


def test_starting_a_running_sweeper_returns_its_future(path: Path) -> None:
    with open_store(path, ttl={"sweep_interval_minutes": 60}) as store:
        first = store.start_ttl_sweeper()
        assert store.start_ttl_sweeper() is first and sweeper_threads() == 1
        assert store.stop_ttl_sweeper(timeout=10) and first.done()
        second = store.start_ttl_sweeper()  # may start again after a stop
        assert second is not first and not second.done() and sweeper_threads() == 1


def test_cancelling_the_future_stops_the_sweeper(path: Path) -> None:
    with open_store(path, ttl={"sweep_interval_minutes": 60}) as store:
        future = store.start_ttl_sweeper()
        assert future.cancel()
        assert wait_until(lambda: sweeper_threads() == 0)


def test_close_stops_the_sweeper(path: Path) -> None:
    store = open_store(path, ttl={"sweep_interval_minutes": 60})
    future = store.start_ttl_sweeper()
    assert sweeper_threads() == 1
    store.close()
    assert sweeper_threads() == 0 and future.done()
    with pytest.raises(StoreError, match="closed"):
        store.start_ttl_sweeper()


def test_without_a_ttl_config_no_sweeper_starts(path: Path) -> None:
    with open_store(path) as store:
        future = store.start_ttl_sweeper()
        assert future.done() and future.result() is None and sweeper_threads() == 0
        assert store.stop_ttl_sweeper() is True


@pytest.fixture
def released() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_a_failing_sweep_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    outcomes: list[int | Exception] = [RuntimeError("disk on fire"), 3]
    done = threading.Event()

    def sweep() -> int:
        outcome = outcomes.pop(0) if outcomes else 0
        if not outcomes:
            done.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    sweeper = Sweeper(sweep)
    sweeper.start(0.0005)
    assert done.wait(10)
    assert sweeper.stop(timeout=10)
    assert "TTL sweep failed" in caplog.text and "disk on fire" in caplog.text


def test_stop_says_when_the_sweeper_did_not_stop_in_time(released: threading.Event) -> None:
    busy = threading.Event()

    def slow_sweep() -> int:
        busy.set()
        released.wait(30)
        return 0

    sweeper = Sweeper(slow_sweep)
    future = sweeper.start(0.0001)
    assert busy.wait(10)
    assert sweeper.stop(timeout=0.05) is False and not future.done()
    released.set()
    assert sweeper.stop(timeout=10) is True and future.result(timeout=10) is None
