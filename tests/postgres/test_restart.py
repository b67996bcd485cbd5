"""The server restarts in the middle of a workload: no acknowledged write is lost, and both the
store and the memory manager carry on once it is back (retrying a failed call is the caller's
choice; reconnecting is the pool's job)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig

from reverie import create_memory_store_manager
from reverie.core.errors import StoreError
from reverie.stores.postgres import ReveriePostgresStore, open_postgres_store
from reverie.testing import ScriptedChatModel, hashing_index, tool_call
from tests.postgres.support import fresh_database, in_ci, require_postgres

pytestmark = pytest.mark.postgres

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
STORE_NS = ("events", "load")
USER_NS = ("memories", "alice")
CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}


def server_script(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=120
    )


class Workload:
    """Writes in background threads, keeping a record of every write that was acknowledged."""

    def __init__(self, store: ReveriePostgresStore) -> None:
        self.store = store
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked_puts: dict[str, int] = {}
        self.acked_memories: list[tuple[str, str]] = []  # (key, content)
        self.failures = 0
        self.successes_after: dict[str, int] = {"puts": 0, "manager": 0}
        self.restarted = threading.Event()
        self.errors: list[BaseException] = []

    def _retrying(self, call: Any) -> Any:
        while not self.stop.is_set():
            try:
                return call()
            except StoreError:
                with self.lock:
                    self.failures += 1
                time.sleep(0.05)
        return None

    def puts(self) -> None:
        try:
            i = 0
            while not self.stop.is_set():
                value = {"n": i}

                def put(key: str = f"k{i}", value: dict = value) -> bool:
                    self.store.put(STORE_NS, key, value)
                    return True

                if self._retrying(put):
                    with self.lock:
                        self.acked_puts[f"k{i}"] = i
                        if self.restarted.is_set():
                            self.successes_after["puts"] += 1
                i += 1
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def manager_runs(self) -> None:
        try:
            i = 0

            def one_fact(request: Any) -> Any:
                return tool_call("Memory", {"content": f"fact number {i}"})

            manager = create_memory_store_manager(
                ScriptedChatModel(responder=one_fact), store=self.store
            )
            while not self.stop.is_set():
                payload = {"messages": [{"role": "user", "content": f"Remember fact {i}."}]}
                written = self._retrying(lambda payload=payload: manager.invoke(payload, CONFIG))
                if written:
                    with self.lock:
                        for w in written:
                            content = w["value"]["content"]["content"]
                            self.acked_memories.append((w["key"], content))
                        if self.restarted.is_set():
                            self.successes_after["manager"] += 1
                i += 1
        except BaseException as exc:
            self.errors.append(exc)


def postmaster_started(url: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_restart_mid_workload_loses_no_acknowledged_write() -> None:
    require_postgres()
    if server_script("status").returncode != 0:
        message = "the test server is not managed by scripts/postgres.sh, so it cannot restart it"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    with fresh_database() as url, open_postgres_store(url, index=hashing_index()) as store:
        work = Workload(store)
        threads = [
            threading.Thread(target=work.puts, daemon=True),
            threading.Thread(target=work.manager_runs, daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            assert wait_for(
                lambda: len(work.acked_puts) >= 30 and len(work.acked_memories) >= 3, 60
            )
            started = postmaster_started(url)
            restart = server_script("restart")
            assert restart.returncode == 0, restart.stderr
            assert postmaster_started(url) > started, "the server really restarted"
            work.restarted.set()
            assert wait_for(
                lambda: work.successes_after["puts"] >= 30 and work.successes_after["manager"] >= 3,
                90,
            ), f"no recovery after the restart: {work.successes_after}, {work.errors}"
        finally:
            work.stop.set()
            for t in threads:
                t.join(timeout=60)
        assert not work.errors, work.errors
        print(f"restart: {work.failures} failed calls retried, {len(work.acked_puts)} puts acked")

        stored = {}
        for offset in range(0, 1_000_000, 10_000):  # pages within the search limit
            page = store.search(STORE_NS, limit=10_000, offset=offset)
            stored.update({item.key: item.value["n"] for item in page})
            if len(page) < 10_000:
                break
        lost = {k: v for k, v in work.acked_puts.items() if stored.get(k) != v}
        assert not lost, f"acknowledged puts missing after the restart: {sorted(lost)[:10]}"

        memories = {
            i.key: i.value["content"]["content"] for i in store.search(USER_NS, limit=10_000)
        }
        missing = [(k, c) for k, c in work.acked_memories if memories.get(k) != c]
        assert not missing, f"acknowledged memories missing after the restart: {missing[:10]}"

        # The manager works normally afterwards: it sees the stored memories and adds one more.
        manager = create_memory_store_manager(
            ScriptedChatModel(responder=lambda r: tool_call("Memory", {"content": "after"})),
            store=store,
        )
        (after,) = manager.invoke({"messages": [{"role": "user", "content": "One more."}]}, CONFIG)
        assert store.get(USER_NS, after["key"]) is not None
