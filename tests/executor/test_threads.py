"""The executor's worker threads: jobs submitted together run together, up to the limit."""

from __future__ import annotations

import threading
import time

import pytest

from reverie.executor.threads import ReflectionThreads


def test_jobs_submitted_back_to_back_never_wait_behind_each_other() -> None:
    # One idle worker, then two jobs at once: the worker takes the first, and the second needs a
    # thread of its own (counting that worker idle until it wakes would queue the second behind
    # the first). The two jobs meet at a barrier, which a queued one would break.
    for _ in range(20):
        pool = ReflectionThreads(4)
        try:
            pool.submit(lambda: None).result(timeout=10)
            time.sleep(0.005)  # the worker goes back to waiting for work
            meeting = threading.Barrier(2, timeout=10)
            futures = [pool.submit(meeting.wait) for _ in range(2)]
            for future in futures:
                future.result(timeout=20)
        finally:
            pool.shutdown()


def test_work_beyond_the_limit_queues_and_still_runs() -> None:
    pool = ReflectionThreads(2)
    release = threading.Event()
    try:
        blocked = [pool.submit(release.wait, 10) for _ in range(2)]
        queued = pool.submit(lambda: "ran")
        assert not queued.done()
        release.set()
        assert queued.result(timeout=10) == "ran"
        assert all(f.result(timeout=10) for f in blocked)
    finally:
        pool.shutdown()


def test_no_work_after_shutdown() -> None:
    pool = ReflectionThreads(1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(print)
