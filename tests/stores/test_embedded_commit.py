"""The embedded store's native commits: crash atomicity, several processes, locking, embedding
before the lock, restored timestamps, TTLs and cache patches through ``commit``.

The port's contract itself (on every backend) is in ``test_port.py``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import GetOp, Item, PutOp

from reverie.core.errors import NamespaceError, StoreLockedError
from reverie.core.ports import Expectation, NamespaceSearch, RestoredItem
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import HashingEmbeddings
from tests.stores.commit_child import ALICE, PROGRESS, SAME
from tests.stores.embedded_helpers import found_keys, indexed

REPO = Path(__file__).resolve().parents[2]
SPAWN = multiprocessing.get_context("spawn")
BOB = ("memories", "bob")


def memory(text: str) -> dict[str, Any]:
    return {"kind": "Memory", "content": {"content": text}}


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A store file holding one memory and a thread's progress, as a manager leaves them."""
    file = tmp_path / "m.db"
    with EmbeddedStore(file, index=indexed()) as store:
        store.put(ALICE, "old", memory("likes green tea"))
        store.put(PROGRESS, "thread-1", {"consolidated": 1}, index=False)
    return file


class Child:
    """``tests.stores.commit_child`` in its own process, read line by line."""

    def __init__(self, mode: str, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.stores.commit_child", mode, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )

    def line(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the child said nothing in time"
        said = self.proc.stdout.readline().strip()
        if not said:
            assert self.proc.stderr is not None
            pytest.fail(f"the child ended early: {self.proc.stderr.read()}")
        return said

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def finish(self) -> None:
        assert self.proc.wait(timeout=60) == 0


def keys(store: EmbeddedStore, namespace: tuple[str, ...]) -> list[str]:
    return sorted(i.key for i in store.search(namespace, limit=100))


def test_a_commit_killed_between_its_check_and_its_writes_leaves_nothing(path: Path) -> None:
    child = Child("mid-write", path)
    try:
        assert child.line() == "first row written"
    finally:
        child.kill()
    assert integrity(path) == "ok"
    with EmbeddedStore(path, index=indexed()) as store:
        assert keys(store, ALICE) == ["old"]
        progress = store.get(PROGRESS, "thread-1")
        assert progress is not None and progress.value == {"consolidated": 1}
        assert [i.key for i in store.search(ALICE, query="Porto")] == ["old"]
        # The dead writer's lock went with it: the file takes new commits at once.
        assert store.commit([Expectation(ALICE, "a", None)], [PutOp(ALICE, "a", SAME)])


def test_a_commit_killed_after_it_returned_is_all_there(path: Path) -> None:
    child = Child("committed", path)
    try:
        assert child.line() == "committed"
    finally:
        child.kill()
    assert integrity(path) == "ok"
    with EmbeddedStore(path, index=indexed()) as store:
        assert keys(store, ALICE) == ["a", "b", "old"]
        progress = store.get(PROGRESS, "thread-1")
        assert progress is not None and progress.value == {"consolidated": 2}
        found = store.batch([NamespaceSearch(ALICE, query="moved to Porto in May", limit=2)])[0]
        assert sorted(found_keys(found)) == ["a", "b"]


def test_a_commit_whose_expectation_failed_writes_nothing(path: Path) -> None:
    child = Child("stale", path)  # any write at all would fail the child
    assert child.line() == "committed=False conflicts=1"
    child.finish()
    with EmbeddedStore(path, index=indexed()) as store:
        assert keys(store, ALICE) == ["old"]
        progress = store.get(PROGRESS, "thread-1")
        assert progress is not None and progress.value == {"consolidated": 1}


def test_a_commit_queues_behind_another_process_writing_elsewhere(path: Path) -> None:
    with EmbeddedStore(path, index=indexed(), busy_timeout=30) as store:
        child = Child("hold", path)
        try:
            assert child.line() == "holding"  # its transaction stays open for 1.5 s more
            started = time.monotonic()
            result = store.commit([Expectation(BOB, "k", None)], [PutOp(BOB, "k", memory("x"))])
            waited = time.monotonic() - started
            child.finish()
        finally:
            if child.proc.poll() is None:
                child.kill()
        assert result.committed and waited > 0.5, "the commit did not wait for the lock"
        assert keys(store, ALICE) == ["a", "b", "old"] and keys(store, BOB) == ["k"]


def _commit_many(path: str, namespace: tuple[str, ...], count: int, go: Any) -> None:
    with EmbeddedStore(path, index=indexed(), busy_timeout=60) as store:
        go.wait(60)
        for i in range(count):
            result = store.commit(
                [Expectation(namespace, f"k{i}", None)],
                [
                    PutOp(namespace, f"k{i}", memory(f"note {i}")),
                    PutOp(namespace, "last", {"i": i}),
                ],
            )
            assert result.committed


def test_two_processes_commit_to_different_namespaces_of_one_file(path: Path) -> None:
    go = SPAWN.Event()
    workers = [
        SPAWN.Process(target=_commit_many, args=(str(path), ns, 60, go)) for ns in (ALICE, BOB)
    ]
    for p in workers:
        p.start()
    go.set()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    with EmbeddedStore(path, index=indexed()) as store:
        assert len(store.search(ALICE, limit=1000)) == 62  # 60 notes, "last", "old"
        assert len(store.search(BOB, limit=1000)) == 61
        assert store.search(BOB, query="note 17", limit=1)[0].key == "k17"
    assert integrity(path) == "ok"


def _increment(path: str, count: int, go: Any) -> None:
    with EmbeddedStore(path, index=indexed(), busy_timeout=60) as store:
        go.wait(60)
        for _ in range(count):
            while True:
                seen = store.get(ALICE, "counter")
                assert seen is not None
                bumped = {"n": seen.value["n"] + 1}
                if store.commit([Expectation.of(seen)], [PutOp(ALICE, "counter", bumped)]):
                    break


def test_read_modify_commits_from_two_processes_lose_no_update(path: Path) -> None:
    with EmbeddedStore(path, index=indexed()) as store:
        store.put(ALICE, "counter", {"n": 0}, index=False)
    go = SPAWN.Event()
    workers = [SPAWN.Process(target=_increment, args=(str(path), 50, go)) for _ in "ab"]
    for p in workers:
        p.start()
    go.set()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    with EmbeddedStore(path, index=indexed()) as store:
        counter = store.get(ALICE, "counter")
        assert counter is not None and counter.value == {"n": 100}


def test_a_commit_waiting_past_the_busy_timeout_raises_and_writes_nothing(path: Path) -> None:
    with EmbeddedStore(path, index=indexed(), busy_timeout=0.05) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreLockedError, match="busy_timeout"):
                store.commit([], [PutOp(ALICE, "new", memory("cannot be written now"))])
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.get(ALICE, "new") is None
        assert store.commit([], [PutOp(ALICE, "new", memory("written once the lock is gone"))])
        assert store.get(ALICE, "new") is not None


class WatchedEmbeddings(Embeddings):
    """Hashing embeddings that record whether SQLite's write lock was free while embedding,
    and which API (sync or async) embedded documents."""

    def __init__(self, path: Path) -> None:
        self.inner = HashingEmbeddings()
        self.path = path
        self.lock_free: list[bool] = []
        self.calls: list[str] = []
        self.batches: list[list[str]] = []

    def _lock_is_free(self) -> bool:
        probe = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            probe.close()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("sync")
        self.batches.append(texts)
        self.lock_free.append(self._lock_is_free())
        return self.inner.embed_documents(texts)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("async")
        self.lock_free.append(self._lock_is_free())
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def test_commits_and_batches_embed_before_taking_the_write_lock(path: Path) -> None:
    watched = WatchedEmbeddings(path)
    with EmbeddedStore(path, index=indexed(watched)) as store:
        assert store.commit([], [PutOp(ALICE, "s", memory("sync commit"))])
        result = asyncio.run(store.acommit([], [PutOp(ALICE, "a", memory("async commit"))]))
        assert result.committed
        store.batch([PutOp(ALICE, "sb", memory("sync batch"))])
        asyncio.run(store.abatch([PutOp(ALICE, "ab", memory("async batch"))]))
        assert keys(store, ALICE) == ["a", "ab", "old", "s", "sb"]
    assert watched.calls == ["sync", "async", "sync", "async"]
    assert watched.lock_free == [True] * 4


def test_two_memories_with_the_same_text_are_embedded_once(path: Path) -> None:
    watched = WatchedEmbeddings(path)
    with EmbeddedStore(path, index=indexed(watched)) as store:
        assert store.commit([], [PutOp(ALICE, "a", SAME), PutOp(ALICE, "b", SAME)])
        assert {i.key for i in store.search(ALICE, query="Porto", limit=2)} == {"a", "b"}
    assert [len(texts) for texts in watched.batches] == [1]


def test_restored_items_keep_their_times_also_over_an_existing_item(path: Path) -> None:
    created = datetime(2024, 3, 1, 9, 30, 12, 345678, tzinfo=timezone.utc)
    updated = created + timedelta(days=3, microseconds=1)
    restored = Item(value=memory("moved to Lisbon"), key="old", namespace=ALICE,
                    created_at=created, updated_at=updated)  # fmt: skip
    with EmbeddedStore(path, index=indexed()) as store:
        result = store.commit([], [RestoredItem(restored)])
        assert result.committed and result.kept_timestamps
        item = store.get(ALICE, "old")
        assert item is not None and (item.created_at, item.updated_at) == (created, updated)
        assert [i.key for i in store.search(ALICE, query="Lisbon", limit=1)] == ["old"]
        # An expectation read from the restored item holds, with its restored timestamp.
        assert store.commit([Expectation.of(item)], [PutOp(ALICE, "old", memory("in Porto"))])


def test_an_expired_item_is_expected_absent(path: Path) -> None:
    with EmbeddedStore(path, index=indexed()) as store:
        assert store.commit([], [PutOp(ALICE, "brief", memory("gone soon"), ttl=0.0001)])
        time.sleep(0.05)
        seen = Expectation(ALICE, "brief", memory("gone soon"))
        assert not store.commit([seen], [PutOp(ALICE, "brief", None)])
        assert store.commit([Expectation(ALICE, "brief", None)], [PutOp(ALICE, "brief", SAME)])


def test_commits_patch_the_warm_search_cache_like_a_fresh_reader(path: Path) -> None:
    queries = ["Porto", "green tea", "chess"]
    with EmbeddedStore(path, index=indexed()) as store:
        store.search(ALICE, query="tea")  # builds the cached vectors and keyword index
        assert store.commit([], [PutOp(ALICE, "a", SAME), PutOp(ALICE, "c", memory("chess"))])
        seen = store.get(ALICE, "old")
        assert store.commit([Expectation.of(seen)], [PutOp(ALICE, "old", None)])
        warm = {q: [(i.key, i.score) for i in store.search(ALICE, query=q)] for q in queries}
    with EmbeddedStore(path, index=indexed()) as store:
        cold = {q: [(i.key, i.score) for i in store.search(ALICE, query=q)] for q in queries}
    for q in queries:
        assert [k for k, _ in warm[q]] == [k for k, _ in cold[q]], q
        assert [s for _, s in warm[q]] == pytest.approx([s for _, s in cold[q]], abs=1e-6), q
    assert "old" not in [k for k, _ in warm["green tea"]]


@pytest.mark.parametrize("label", ["a.b", ""])
def test_bad_labels_are_refused_before_anything_is_written(path: Path, label: str) -> None:
    with EmbeddedStore(path, index=indexed()) as store:
        with pytest.raises(NamespaceError, match="labels"):
            store.commit([], [PutOp(ALICE, "k", memory("x")), PutOp(("m", label), "k", {})])
        with pytest.raises(NamespaceError, match="labels"):
            store.commit([Expectation(("m", label), "k", None)], [PutOp(ALICE, "k", {})])
        with pytest.raises(NamespaceError, match="labels"):
            store.batch([GetOp(("m", label), "k")])
        assert store.get(ALICE, "k") is None


def test_threads_sharing_one_store_object_lose_no_update(path: Path) -> None:
    with EmbeddedStore(path, index=indexed()) as store:
        store.put(ALICE, "counter", {"n": 0}, index=False)

        def add(times: int) -> None:
            for _ in range(times):
                while True:
                    seen = store.get(ALICE, "counter")
                    assert seen is not None
                    bumped = {"n": seen.value["n"] + 1}
                    if store.commit([Expectation.of(seen)], [PutOp(ALICE, "counter", bumped)]):
                        break

        threads = [threading.Thread(target=add, args=(25,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        counter = store.get(ALICE, "counter")
        assert counter is not None and counter.value == {"n": 100}
