"""A child process for the embedded store's crash and concurrency tests.

``python -m tests.stores.commit_child MODE PATH`` opens the store at PATH and makes the commit
a memory manager makes after consolidating a thread: two new memories with the same text and
the thread's progress, expecting the memories absent and the progress as last read. Modes:

- ``mid-write``: stops inside the transaction, after the expectations were checked and the
  first row was written; prints ``first row written`` and waits to be killed.
- ``committed``: commits, prints ``committed``, and waits to be killed.
- ``stale``: expects progress the store no longer has; prints the result and exits. Writing
  anything at all would fail the child.
- ``hold``: holds the write transaction 1.5 s after the first row, printing ``holding``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from langgraph.store.base import Item, PutOp

from reverie.core.ports import Expectation
from reverie.stores.embedded import EmbeddedStore
from reverie.stores.embedded.rows import PutPlan
from reverie.stores.embedded.writer import Writer
from tests.stores.embedded_helpers import indexed

ALICE = ("memories", "alice")
PROGRESS = ("__reverie__", "progress")
SAME = {"kind": "Memory", "content": {"content": "moved to Porto in May"}}


def after_first_row(then: Callable[[], None]) -> None:
    """Make the writer call ``then()`` once, right after it wrote the commit's first row."""
    original = Writer.write_item
    calls = [0]

    def write_item(self: Writer, ns_id: int, put: PutPlan, now: float) -> int | None:
        result = original(self, ns_id, put, now)
        calls[0] += 1
        if calls[0] == 1:
            then()
        return result

    Writer.write_item = write_item  # type: ignore[method-assign]  # fault injection


def refuse_writes() -> None:
    def write_item(self: Writer, ns_id: int, put: PutPlan, now: float) -> int | None:
        raise AssertionError("a commit whose expectation failed tried to write")

    Writer.write_item = write_item  # type: ignore[method-assign]  # fault injection


def say(line: str) -> None:
    print(line, flush=True)


def block_forever() -> None:
    time.sleep(600)


def stop_here() -> None:
    say("first row written")
    block_forever()


def hold_a_while() -> None:
    say("holding")
    time.sleep(1.5)


def main(mode: str, path: str) -> None:
    store = EmbeddedStore(path, index=indexed(), busy_timeout=30)
    progress = store.get(PROGRESS, "thread-1")
    assert isinstance(progress, Item)
    expected = [Expectation(ALICE, "a", None), Expectation(ALICE, "b", None)]
    expected.append(
        Expectation(PROGRESS, "thread-1", {"consolidated": 0})
        if mode == "stale"
        else Expectation.of(progress)
    )
    writes = [
        PutOp(ALICE, "a", SAME),
        PutOp(ALICE, "b", SAME),
        PutOp(PROGRESS, "thread-1", {"consolidated": 2}, index=False),
    ]
    if mode == "mid-write":
        after_first_row(stop_here)
    elif mode == "hold":
        after_first_row(hold_a_while)
    elif mode == "stale":
        refuse_writes()
    result = store.commit(expected, writes)
    if mode == "committed":
        say("committed" if result.committed else "not committed")
        block_forever()
    say(f"committed={result.committed} conflicts={len(result.conflicts)}")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
