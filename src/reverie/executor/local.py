"""``ReflectionExecutor``: memory extraction in the background of this process, debounced per thread.

One daemon thread runs an asyncio loop that owns all scheduling. ``submit`` only creates a future
and hands the submission to that loop, so the caller never waits on the reflection. Async reflectors
run on the loop; sync ones in a thread pool. Submissions for one thread replace each other while
they wait, and run one at a time; different threads run concurrently. A thread is a thread id of
one user (``context.debounce_slot``): users who reuse an id such as "1" never replace each other.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
import weakref
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, Literal, NamedTuple

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError, InputError
from reverie.executor.context import (
    FROM_CONFIG,
    ambient_store,
    background_config,
    debounce_slot,
    submission_config,
    submission_thread,
)
from reverie.executor.invoke import Reflector, check_reflector, run_reflector
from reverie.executor.search import MemorySearch
from reverie.executor.threads import ReflectionThreads
from reverie.extraction.store_manager import MemoryStoreManager

logger = logging.getLogger("reverie.executor")

ShutdownPolicy = Literal["process", "cancel"]


class CancelledSubmission(NamedTuple):
    """A submission dropped at shutdown, returned so the caller can persist or retry it."""

    thread_id: str | None
    payload: Any


class _Submission:
    __slots__ = (
        "config",
        "due",
        "future",
        "handle",
        "payload",
        "slot",
        "started",
        "store",
        "thread_id",
    )

    def __init__(
        self,
        payload: Any,
        config: RunnableConfig,
        store: BaseStore | None,
        thread_id: str | None,
        slot: object,
        due: float,
    ) -> None:
        self.payload = payload
        self.config = config
        self.store = store
        self.thread_id = thread_id
        self.slot = slot
        self.due = due
        self.future: Future[Any] = Future()
        self.handle: asyncio.TimerHandle | None = None
        self.started = False


class ReflectionExecutor(MemorySearch):
    """Run a memory manager in the background, debouncing submissions per conversation thread.

    ``submit(payload, config, after_seconds=..., thread_id=...)`` returns at once with a
    ``concurrent.futures.Future``. A newer submission for the same thread of the same user cancels
    one that has not started yet. At shutdown (explicit, ``with`` exit, or interpreter exit) pending
    work is processed immediately (``on_shutdown="process"``) or cancelled and returned
    (``"cancel"``).
    """

    def __init__(
        self,
        reflector: Reflector,
        store: BaseStore | None = None,
        *,
        on_shutdown: ShutdownPolicy = "process",
        max_concurrency: int = 16,
    ) -> None:
        self._reflector = check_reflector(reflector)
        if store is not None and not isinstance(store, BaseStore):
            raise ConfigurationError(
                f"store must be a LangGraph BaseStore, got {type(store).__name__}."
            )
        if on_shutdown not in ("process", "cancel"):
            raise ConfigurationError(
                f"on_shutdown must be 'process' or 'cancel', got {on_shutdown!r}."
            )
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, got {max_concurrency}.")
        self.store = store
        self._on_shutdown: ShutdownPolicy = on_shutdown
        self._max_concurrency = max_concurrency
        # A store manager created without a store needs one from us or from the caller's graph.
        self._needs_store = (
            store is None
            and isinstance(reflector, MemoryStoreManager)
            and reflector.explicit_store is None
        )
        self._lock = threading.Lock()
        self._waiting: dict[object, _Submission] = {}  # not started yet, by slot
        self._inbox: list[_Submission] = []  # submitted, not yet seen by the loop
        self._wake_pending = False
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Loop-thread state.
        self._active: dict[object, asyncio.Task[None]] = {}
        self._blocked: dict[object, _Submission] = {}  # due, but the same thread is still running
        self._pool: ReflectionThreads | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._exit_hook = _register_exit_hook(self)

    @property
    def reflector(self) -> Reflector:
        return self._reflector

    # ------------------------------------------------------------------ caller side

    def submit(
        self,
        payload: Any,
        /,
        config: RunnableConfig | None = None,
        *,
        after_seconds: float = 0,
        thread_id: Any = FROM_CONFIG,
    ) -> Future[Any]:
        """Schedule a reflection on ``payload``; returns at once.

        ``thread_id`` defaults to ``config["configurable"]["thread_id"]`` (``config`` defaults to the
        current LangGraph run's); ``None`` means no debouncing for this submission.
        """
        config = submission_config(config, after_seconds)
        store = self.store if self.store is not None else ambient_store()
        if self._needs_store and store is None:
            raise ConfigurationError(
                "The memory manager has no store to write to: pass store=... to "
                "ReflectionExecutor (or to the manager), or submit from inside a LangGraph graph "
                "or @entrypoint(store=...)."
            )
        thread = submission_thread(config, thread_id)
        # Without a thread, a slot of its own: nothing to replace.
        slot = debounce_slot(thread, config, self._reflector) or object()
        submission = _Submission(
            payload,
            background_config(config),
            store,
            thread,
            slot,
            time.monotonic() + after_seconds,
        )
        with self._lock:
            if self._closing:
                raise RuntimeError("cannot submit to a ReflectionExecutor after shutdown")
            loop = self._loop or self._start_loop()
            previous = self._waiting.get(slot)
            self._waiting[slot] = submission
            self._inbox.append(submission)
            # One wake-up of the loop per burst of submissions, not one per submission.
            wake, self._wake_pending = not self._wake_pending, True
        if previous is not None:
            previous.future.cancel()  # fails harmlessly if it has started meanwhile
        if wake:
            loop.call_soon_threadsafe(self._take_inbox)
        return submission.future

    async def asubmit(
        self,
        payload: Any,
        /,
        config: RunnableConfig | None = None,
        *,
        after_seconds: float = 0,
        thread_id: Any = FROM_CONFIG,
    ) -> Future[Any]:
        """Same as :meth:`submit` (which never blocks); for code written against either executor."""
        return self.submit(payload, config, after_seconds=after_seconds, thread_id=thread_id)

    def cancel_pending(self, configurable: Mapping[str, Any]) -> list[CancelledSubmission]:
        """Cancel the submissions not started yet whose config holds every one of
        ``configurable`` (e.g. ``{"langgraph_user_id": "ana"}``) and return them.

        Before erasing a user (:func:`reverie.forget_user`); reflections already running finish
        (their futures say when).
        """
        if not isinstance(configurable, Mapping) or not configurable:
            raise InputError(
                "cancel_pending needs the settings that pick the user's submissions, e.g. "
                "{'langgraph_user_id': 'ana'}; an empty match would cancel everything."
            )
        with self._lock:
            waiting = list(self._waiting.values())
        chosen = [s for s in waiting if _holds(s.config, configurable)]
        return [CancelledSubmission(s.thread_id, s.payload) for s in chosen if s.future.cancel()]

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool | None = None
    ) -> list[CancelledSubmission]:
        """Stop accepting work and finish what is pending.

        With ``cancel_futures=False`` (the default unless ``on_shutdown="cancel"``) submissions still
        waiting for their delay run now; with ``True`` they are cancelled, logged and returned.
        Running reflections always finish. ``wait`` blocks until all of it is done.
        """
        cancel = self._on_shutdown == "cancel" if cancel_futures is None else cancel_futures
        with self._lock:
            first = not self._closing
            self._closing = True
            loop, thread = self._loop, self._thread
            waiting = list(self._waiting.values()) if cancel else []
        cancelled = [
            CancelledSubmission(s.thread_id, s.payload) for s in waiting if s.future.cancel()
        ]
        if cancelled:
            shown = ", ".join(str(c.thread_id) for c in cancelled[:10])
            more = f" and {len(cancelled) - 10} more" if len(cancelled) > 10 else ""
            logger.warning(
                "Shutdown cancelled %d pending reflection(s); thread ids: %s%s",
                len(cancelled),
                shown,
                more,
            )
        if first:
            _unregister_exit_hook(self._exit_hook)
            if loop is not None:
                loop.call_soon_threadsafe(self._begin_drain)
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()
        return cancelled

    def __enter__(self) -> ReflectionExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True)

    def _at_exit(self) -> None:
        self.shutdown(wait=True)

    # ------------------------------------------------------------------ loop side

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="reverie-reflection", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        return loop

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        self._semaphore = asyncio.Semaphore(self._max_concurrency)
        try:
            loop.run_forever()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _take_inbox(self) -> None:
        with self._lock:
            inbox, self._inbox, self._wake_pending = self._inbox, [], False
        for submission in inbox:
            self._arm(submission)

    def _arm(self, submission: _Submission) -> None:
        if submission.future.cancelled():
            self._forget(submission)
            return
        assert self._loop is not None
        if self._closing or submission.due <= self._loop.time():
            self._start(submission)
        else:
            submission.handle = self._loop.call_at(submission.due, self._start, submission)

    def _start(self, submission: _Submission) -> None:
        if submission.started:
            return
        slot = submission.slot
        if slot in self._active and not submission.future.cancelled():
            self._blocked[slot] = submission  # runs when the thread's current reflection ends
            return
        submission.started = True
        self._forget(submission)
        if not submission.future.set_running_or_notify_cancel():
            return
        task = asyncio.get_running_loop().create_task(self._execute(submission))
        self._active[slot] = task
        task.add_done_callback(lambda _: self._finished(slot))

    def _finished(self, slot: object) -> None:
        self._active.pop(slot, None)
        successor = self._blocked.pop(slot, None)
        if successor is not None:
            self._start(successor)

    def _forget(self, submission: _Submission) -> None:
        with self._lock:
            if self._waiting.get(submission.slot) is submission:
                del self._waiting[submission.slot]

    async def _execute(self, submission: _Submission) -> None:
        assert self._semaphore is not None
        async with self._semaphore:
            try:
                if self._pool is None:
                    self._pool = ReflectionThreads(self._max_concurrency)
                    # Also for asyncio.to_thread in async reflectors, so they run at exit too.
                    asyncio.get_running_loop().set_default_executor(self._pool)
                result = await run_reflector(
                    self._reflector,
                    submission.payload,
                    submission.config,
                    submission.store,
                    threads=self._pool,
                )
            except BaseException as exc:
                logger.error(
                    "Background reflection failed (thread %s): %s: %s",
                    submission.thread_id,
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                )
                submission.future.set_exception(exc)  # a waiting caller must never hang
                if not isinstance(exc, Exception):
                    raise
            else:
                submission.future.set_result(result)

    def _begin_drain(self) -> None:
        self._take_inbox()
        with self._lock:
            waiting = list(self._waiting.values())
        for submission in waiting:
            if submission.handle is not None:
                submission.handle.cancel()
            self._start(submission)
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._active:
            await asyncio.wait(list(self._active.values()))
        asyncio.get_running_loop().stop()


def _holds(config: RunnableConfig, wanted: Mapping[str, Any]) -> bool:
    found = config.get("configurable") or {}
    return all(key in found and found[key] == value for key, value in wanted.items())


def _register_exit_hook(executor: ReflectionExecutor) -> Any:
    """Process (or report) pending work when the interpreter exits, without keeping it alive
    (the executor's threads keep working then, see ``threads``)."""
    ref = weakref.ref(executor)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            alive._at_exit()

    atexit.register(hook)
    return hook


def _unregister_exit_hook(hook: Any) -> None:
    atexit.unregister(hook)
