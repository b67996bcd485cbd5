"""Making a manager's "check the memories it read are unchanged, then write" step atomic.

LangGraph stores have no compare-and-set, so the check and the write are two batches. Runs that
share a store take one lock around both, so no other run can write in between. A store that is
shared between processes offers its own lock by defining ``reverie_write_lock()`` (a context
manager held across processes) and, for async stores, ``reverie_awrite_lock()`` (an async
context manager); otherwise a lock per store object covers the threads and event loops of this
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

# One lock per live store object, the only module-level state: it must be shared by every manager
# and tool that writes to the same store, whoever created them, and it vanishes with the store.
# (A lock stored on the store object itself would break users who copy or pickle their store.)
_LOCAL_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_LOCAL_LOCKS_GUARD = threading.Lock()
_FALLBACK_LOCK = threading.Lock()  # for store objects that cannot be weakly referenced


def _local_lock(store: Any) -> threading.Lock:
    with _LOCAL_LOCKS_GUARD:
        try:
            lock = _LOCAL_LOCKS.get(store)
            if lock is None:
                lock = _LOCAL_LOCKS[store] = threading.Lock()
            return lock
        except TypeError:
            return _FALLBACK_LOCK


@contextlib.contextmanager
def write_guard(store: Any) -> Iterator[None]:
    """Hold the store's write lock (sync callers)."""
    native = getattr(store, "reverie_write_lock", None)
    with _local_lock(store):
        if callable(native):
            with native():
                yield
        else:
            yield


@contextlib.asynccontextmanager
async def awrite_guard(store: Any) -> AsyncIterator[None]:
    """Hold the store's write lock without blocking the event loop while waiting for it."""
    lock = _local_lock(store)
    delay = 0.0005
    # Polling rather than waiting in an executor thread: waiting there could use up the executor
    # that the lock holder itself needs (e.g. for embeddings) and deadlock.
    while not lock.acquire(blocking=False):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.01)
    try:
        native_async = getattr(store, "reverie_awrite_lock", None)
        native = getattr(store, "reverie_write_lock", None)
        if callable(native_async):
            async with native_async():
                yield
        elif callable(native):
            # A cross-process lock is a blocking call; wait for it off the event loop.
            cm = native()
            await asyncio.to_thread(cm.__enter__)
            try:
                yield
            finally:
                cm.__exit__(None, None, None)
        else:
            yield
    finally:
        lock.release()
