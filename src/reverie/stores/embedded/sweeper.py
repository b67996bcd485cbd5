"""A daemon thread that deletes expired items every few minutes, as LangGraph's stores do.

Same contract as ``PostgresStore.start_ttl_sweeper`` / ``stop_ttl_sweeper``: the first sweep
comes one interval after the start; ``start`` returns a ``Future`` that completes when the
thread ends (cancelling it stops the thread); a failed sweep is logged and retried next time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError

logger = logging.getLogger(__name__)


class Sweeper:
    """Runs ``sweep`` (returns how many items it deleted) on a daemon thread."""

    def __init__(self, sweep: Callable[[], int], name: str = "reverie-ttl-sweeper") -> None:
        self._sweep = sweep
        self._name = name
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._future: Future[None] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, interval_minutes: float) -> Future[None]:
        """Start sweeping every ``interval_minutes``; if already running, its future."""
        with self._guard:
            if self.running and self._future is not None:
                return self._future
            stop = self._stop = threading.Event()
            future: Future[None] = Future()
            # Cancelling the future is how a caller holding only the future stops the thread.
            future.add_done_callback(lambda f: stop.set() if f.cancelled() else None)
            thread = threading.Thread(
                target=self._loop, args=(60.0 * interval_minutes, stop, future), daemon=True,
                name=self._name,
            )  # fmt: skip
            self._thread, self._future = thread, future
            thread.start()
            return future

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to end; True if it ended within ``timeout`` seconds (or never ran)."""
        with self._guard:
            thread = self._thread
            if thread is None or not thread.is_alive():
                self._thread = None
                return True
            self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("The TTL sweeper did not stop within %s seconds.", timeout)
            return False
        with self._guard:
            if self._thread is thread:
                self._thread = None
        return True

    def _loop(self, interval_s: float, stop: threading.Event, future: Future[None]) -> None:
        while not stop.wait(interval_s):
            try:
                removed = self._sweep()
                if removed:
                    logger.info("TTL sweep removed %d expired items.", removed)
            except Exception:
                logger.exception("TTL sweep failed; retrying at the next interval.")
        with contextlib.suppress(InvalidStateError):  # cancelled: already done
            future.set_result(None)
