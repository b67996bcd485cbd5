"""Per-namespace locks for stores that cannot lock namespaces themselves (see ``adapter``).

A lock exists while someone holds or waits for it, so memory stays bounded however many
namespaces a process touches. Several namespaces are always taken in sorted order, so two
lockers never wait on each other in a cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Sequence


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


class NamespaceLocks:
    """Mutual exclusion per namespace path, for threads and event loops of one process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def _enter(self, paths: Sequence[str]) -> list[_Entry]:
        with self._guard:
            entries = []
            for path in sorted(set(paths)):
                entry = self._entries.get(path)
                if entry is None:
                    entry = self._entries[path] = _Entry()
                entry.users += 1
                entries.append(entry)
            return entries

    def _leave(self, paths: Sequence[str], entries: list[_Entry]) -> None:
        with self._guard:
            for path, entry in zip(sorted(set(paths)), entries, strict=True):
                entry.users -= 1
                if entry.users == 0:
                    del self._entries[path]

    @contextlib.contextmanager
    def hold(self, paths: Sequence[str]) -> Iterator[None]:
        """Hold every lock of ``paths`` (blocking the calling thread while waiting)."""
        entries = self._enter(paths)
        taken: list[_Entry] = []
        try:
            for entry in entries:
                entry.lock.acquire()
                taken.append(entry)
            yield
        finally:
            for entry in reversed(taken):
                entry.lock.release()
            self._leave(paths, entries)

    @contextlib.asynccontextmanager
    async def ahold(self, paths: Sequence[str]) -> AsyncIterator[None]:
        """Hold every lock of ``paths`` without blocking the event loop while waiting."""
        entries = self._enter(paths)
        taken: list[_Entry] = []
        try:
            for entry in entries:
                delay = 0.0005
                # Polling rather than waiting in a worker thread: such a wait could use up the
                # thread pool the lock holder itself needs (e.g. to embed) and deadlock.
                while not entry.lock.acquire(blocking=False):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.01)
                taken.append(entry)
            yield
        finally:
            for entry in reversed(taken):
                entry.lock.release()
            self._leave(paths, entries)
