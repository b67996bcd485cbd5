"""Supersession is atomic with the rest of the run's commit: a process killed in the middle of
the commit that moves Alice from Lisbon to Porto leaves either the old version current (and no
closed version, no new time record), or the new one current with the old one closed. Never a
mix, on the embedded store and on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reverie.ledger.timeline import past_namespace, time_namespace
from reverie.testing import hashing_index

if TYPE_CHECKING:
    from reverie.stores.embedded import EmbeddedStore
    from reverie.stores.postgres import ReveriePostgresStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")

REPO = Path(__file__).resolve().parents[2]
NS = ("memories", "alice")

CHILD = """
import sys, time
from datetime import datetime, timezone
from reverie import create_memory_store_manager
from reverie.testing import ScriptedChatModel, hashing_index, tool_call
from tests.helpers import alias_of, new_conversation

backend, where, mode = sys.argv[1:4]

def respond(request):
    if "Porto" in new_conversation(request):
        alias = alias_of(request, "Lisbon")
        return tool_call("Memory", {"content": "Alice lives in Porto", "memory_id": alias})
    return tool_call("Memory", {"content": "Alice lives in Lisbon"})

def stall_after_first_write():
    if backend == "embedded":
        from reverie.stores.embedded.writer import Writer
        original = Writer.write_item
        def write_item(self, *args):
            result = original(self, *args)
            print("WRITTEN, NOT COMMITTED", flush=True)
            time.sleep(600)
        Writer.write_item = write_item
    else:
        from reverie.stores.postgres import commit as plan
        original = plan.write_rows
        def write_rows(*args):
            steps = original(*args)
            yield next(steps)  # the first write statement runs, inside the transaction
            print("WRITTEN, NOT COMMITTED", flush=True)
            time.sleep(600)
        plan.write_rows = write_rows

if backend == "embedded":
    from reverie.stores.embedded import EmbeddedStore
    store = EmbeddedStore(where, index=hashing_index())
else:
    from reverie.stores.postgres import open_postgres_store
    store = open_postgres_store(where, index=hashing_index(), pool_size=1)
manager = create_memory_store_manager(ScriptedChatModel(responder=respond), namespace=("memories", "alice"), store=store)
march = {"configurable": {"reference_time": datetime(2024, 3, 1, tzinfo=timezone.utc)}}
june = {"configurable": {"reference_time": datetime(2024, 6, 1, tzinfo=timezone.utc)}}
manager.invoke({"messages": [{"role": "user", "content": "I live in Lisbon"}]}, march)
if mode == "inside":
    stall_after_first_write()
manager.invoke({"messages": [{"role": "user", "content": "I moved to Porto"}]}, june)
print("COMMITTED", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=["embedded", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "embedded":
        yield "embedded", str(tmp_path / "memories.db")
        return
    from reverie.stores.postgres import open_postgres_store
    from tests.postgres.support import fresh_database

    with fresh_database() as url:
        open_postgres_store(url, index=hashing_index()).close()  # tables before the child
        yield "postgres", url


def kill_child_at(backend: str, where: str, mode: str, line: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend, where, mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    timer = threading.Timer(120, child.kill)  # never hang the suite on a child gone wrong
    timer.start()
    try:
        said = child.stdout.readline().strip()
    finally:
        timer.cancel()
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate(timeout=30)
    assert said == line, err


def state(backend: str, where: str) -> tuple[list[str], int, list[int]]:
    """(current texts, current version, closed versions) as a fresh store sees them."""
    store: EmbeddedStore | ReveriePostgresStore
    if backend == "embedded":
        from reverie.stores.embedded import EmbeddedStore

        store = EmbeddedStore(where, index=hashing_index())
    else:
        from reverie.stores.postgres import open_postgres_store

        store = open_postgres_store(where, index=hashing_index())
    with store:
        current = store.search(NS)
        texts = [i.value["content"]["content"] for i in current]
        assert len(current) == 1
        record = store.get(time_namespace(NS), current[0].key)
        assert record is not None
        closed = sorted(i.value["version"] for i in store.search(past_namespace(NS)))
        return texts, int(record.value["version"]), closed


def test_killed_inside_the_commit_keeps_the_old_version_whole(target: tuple[str, str]) -> None:
    backend, where = target
    kill_child_at(backend, where, "inside", "WRITTEN, NOT COMMITTED")
    assert state(backend, where) == (["Alice lives in Lisbon"], 1, [])


def test_killed_after_the_commit_has_the_whole_supersession(target: tuple[str, str]) -> None:
    backend, where = target
    kill_child_at(backend, where, "after", "COMMITTED")
    assert state(backend, where) == (["Alice lives in Porto"], 2, [1])
