"""Worker threads for the background executor that keep working while the interpreter exits.

``concurrent.futures`` refuses new work once the interpreter starts exiting, before ``atexit``
handlers run; the executor processes pending reflections in an ``atexit`` handler, and those
reflections need threads (sync reflectors, and async code that waits in ``asyncio.to_thread``).
So the executor's loop uses this pool, as its default executor too, which runs its own daemon
threads. It subclasses ``ThreadPoolExecutor`` only because asyncio's ``set_default_executor``
requires one; its ``submit`` and ``shutdown`` are its own (the base class's workers never start).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ReflectionThreads(ThreadPoolExecutor):
    """At most ``max_workers`` daemon threads, started as work arrives."""

    def __init__(self, max_workers: int, name: str = "reverie-reflect") -> None:
        super().__init__(max_workers=1)
        self.limit = max_workers
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._guard = threading.Lock()
        self._started: list[threading.Thread] = []
        self._idle = 0  # workers waiting for work that no submitted job has been promised
        self._stopped = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._guard:
            if self._stopped:
                raise RuntimeError("cannot schedule new work after the executor shut down")
            self._jobs.put((future, fn, args, kwargs))
            # An idle worker is promised this job at once: counting it idle until it wakes would
            # let a second job wait behind the first instead of starting a thread of its own.
            if self._idle:
                self._idle -= 1
            elif len(self._started) < self.limit:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._started)}", daemon=True
                )
                self._started.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._guard:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._guard:
            self._stopped = True
            threads = list(self._started)
        for _ in threads:
            self._jobs.put(None)  # each worker ends after the work queued before it
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()
        super().shutdown(wait=False)
