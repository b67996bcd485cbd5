"""A lock held across processes while a caller reads, checks and writes one store file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from reverie.core.errors import StoreLockedError


class CrossProcessWriteLock:
    """An exclusive lock on ``<store file>.lock``; released by the OS if its holder dies."""

    def __init__(self, store_path: Path, timeout: float = 30.0) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self.timeout = timeout
        # thread_local=False: the in-process guard already serialises threads; the OS lock is
        # only about other processes, and async callers may release it from another thread.
        self._lock = FileLock(str(self.path), timeout=timeout, thread_local=False)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise StoreLockedError(
                f"Another process held the write lock {self.path} for over {self.timeout:.0f}s. "
                "Check for a stuck process using this store, or retry later."
            ) from exc
        try:
            yield
        finally:
            self._lock.release()
