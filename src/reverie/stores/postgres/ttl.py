"""Item expiry (LangGraph's ``TTLConfig``): the sweep, and the background sweepers.

Expired items are never returned, swept or not (every read checks ``expires_at``); sweeping only
frees their space. The sweepers have LangGraph's signatures: the sync one runs on a daemon
thread and returns a ``concurrent.futures.Future``, the async one is a task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable

from langgraph.store.base import TTLConfig

from reverie.stores.postgres.steps import Plan, Sql

logger = logging.getLogger(__name__)

DEFAULT_SWEEP_MINUTES = 5.0

# Rows a writer holds are skipped (it is replacing or deleting them anyway), so a sweep never
# waits on a writer's locks and cannot deadlock with one.
SWEEP = (
    "WITH gone AS (DELETE FROM store WHERE (prefix, key) IN ("
    "SELECT prefix, key FROM store WHERE expires_at IS NOT NULL "
    "AND expires_at <= statement_timestamp() FOR UPDATE SKIP LOCKED) RETURNING 1) "
    "SELECT count(*) AS n FROM gone"
)


def sweep() -> Plan[int]:
    """Delete expired items; the number deleted."""
    (row,) = yield from Sql(SWEEP)
    return int(row["n"])


def refresh_default(config: TTLConfig | None) -> bool:
    """Whether reads refresh TTLs when the caller does not say (LangGraph's default: yes)."""
    return bool((config or {}).get("refresh_on_read", True))


def sweep_interval_s(config: TTLConfig | None, minutes: float | None) -> float:
    chosen = minutes or (config or {}).get("sweep_interval_minutes") or DEFAULT_SWEEP_MINUTES
    return float(chosen) * 60.0


class ThreadSweeper:
    """Calls ``sweep`` every interval on a daemon thread until stopped."""

    def __init__(self, sweep: Callable[[], int]) -> None:
        self._sweep = sweep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._future: concurrent.futures.Future[None] | None = None

    def start(self, interval_s: float) -> concurrent.futures.Future[None]:
        if self._thread is not None and self._thread.is_alive() and self._future is not None:
            return self._future
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        # Cancelling the returned future stops the sweeper, as with LangGraph's.
        future.add_done_callback(lambda f: self._stop.set() if f.cancelled() else None)
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                _swept(self._sweep)
            if future.set_running_or_notify_cancel():
                future.set_result(None)

        self._future = future
        self._thread = threading.Thread(target=loop, daemon=True, name="reverie-ttl-sweeper")
        self._thread.start()
        return future

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; False if it did not finish within ``timeout`` seconds."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            return False
        self._thread = None
        return True


class TaskSweeper:
    """Awaits ``sweep`` every interval in a task until stopped."""

    def __init__(self, sweep: Callable[[], Awaitable[int]]) -> None:
        self._sweep = sweep
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, interval_s: float) -> asyncio.Task[None]:
        if self._task is not None and not self._task.done():
            return self._task
        self._stop = asyncio.Event()  # bound to the running loop
        stop = self._stop

        async def loop() -> None:
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
                    return
                except asyncio.TimeoutError:
                    pass
                try:
                    swept = await self._sweep()
                except Exception:  # a failed sweep is retried at the next interval
                    logger.exception("TTL sweep failed")
                else:
                    _log(swept)

        self._task = asyncio.get_running_loop().create_task(loop(), name="reverie-ttl-sweeper")
        return self._task

    async def stop(self, timeout: float | None = None) -> bool:
        task = self._task
        if task is None or task.done():
            return True
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            return False
        self._task = None
        return True


def _swept(sweep: Callable[[], int]) -> None:
    try:
        swept = sweep()
    except Exception:  # a failed sweep (e.g. the server restarting) is retried next interval
        logger.exception("TTL sweep failed")
    else:
        _log(swept)


def _log(swept: int) -> None:
    if swept:
        logger.info("TTL sweep deleted %d expired items", swept)
