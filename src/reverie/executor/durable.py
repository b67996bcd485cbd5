"""``DurableReflectionExecutor``: submissions stored in PostgreSQL, processed by ``reverie worker``.

``submit`` writes a procrastinate job in the same database as the memories and returns once it is
committed; workers on any machine run it. A newer submission for the same thread of the same user
replaces the one still waiting; a job whose worker dies is handed to another worker; a job applied
twice writes the same memory keys (its idempotency key travels with it).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from psycopg.types.json import Jsonb

from reverie.core.effects import Effect, Pipeline, arun, run
from reverie.core.errors import ConfigurationError, InputError
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.executor.context import (
    FROM_CONFIG,
    debounce_slot,
    submission_config,
    submission_thread,
)
from reverie.executor.factory import load_reflector
from reverie.executor.invoke import Reflector
from reverie.executor.payload import encode_config, encode_payload, stored_job_args
from reverie.executor.queue import (
    DEFAULT_QUEUE,
    SUBMIT,
    TASK_NAME,
    ensure_schema,
    scheduled_at,
    thread_lock,
)
from reverie.executor.queue_connections import QueueConnections
from reverie.executor.search import MemorySearch, resolve_store
from reverie.extraction.report import RunReport
from reverie.ledger import port_for
from reverie.ledger.usage import read_runs

QUEUE_URL_ENV = "REVERIE_QUEUE_URL"
# This executor's jobs whose settings contain the given configurable values, by status.
_MATCHING = (
    "FROM procrastinate_jobs WHERE queue_name = %s AND task_name = %s AND status = %s "
    "AND args->>'manager' = %s AND args->'config'->'configurable' @> %s"
)
# procrastinate's own cancel: a job a worker took meanwhile is left to it (and counted running).
_CANCEL_WAITING = "SELECT count(procrastinate_cancel_job_v1(id, false, false)) " + _MATCHING
_COUNT_RUNNING = "SELECT count(*) " + _MATCHING
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class CancelledJobs:
    """What :meth:`DurableReflectionExecutor.cancel_pending` did: jobs cancelled before a worker
    took them, and jobs a worker was still running when it returned (0 once they finished)."""

    cancelled: int
    running: int


def resolve_queue_url(dsn: str | None, store: str | None = None) -> str:
    """The queue database: ``dsn``, else ``$REVERIE_QUEUE_URL``, else a postgresql:// store URL."""
    for candidate in (dsn, os.environ.get(QUEUE_URL_ENV), store, os.environ.get("REVERIE_STORE")):
        if candidate:
            if not str(candidate).startswith(("postgresql://", "postgres://")):
                if candidate is dsn:
                    raise ConfigurationError(
                        f"The queue needs a postgresql:// URL, got {str(candidate)[:40]!r}."
                    )
                continue
            return str(candidate)
    raise ConfigurationError(
        "No queue database: pass a postgresql:// URL (dsn=... or --dsn), or set "
        f"{QUEUE_URL_ENV} (or REVERIE_STORE to a postgresql:// store)."
    )


def _as_stored(data: bytes) -> bytes:
    # The job is serialised once, when its size is checked; psycopg sends those bytes as they are.
    return data


class _QueueScalar(Effect[int]):
    """One statement on the queue database that returns one integer (a job id, a count)."""

    def __init__(self, connections: QueueConnections, sql: str, args: tuple[Any, ...]) -> None:
        self.connections = connections
        self.sql = sql
        self.args = args

    def perform(self) -> int:
        with self.connections.blocking().connection() as conn:
            row = conn.execute(self.sql, self.args).fetchone()
        assert row is not None
        return int(row[0])

    async def aperform(self) -> int:
        pool = await self.connections.for_this_loop()
        async with pool.connection() as conn:
            cursor = await conn.execute(self.sql, self.args)
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


class _Pause(Effect[None]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def perform(self) -> None:
        time.sleep(self.seconds)

    async def aperform(self) -> None:
        await asyncio.sleep(self.seconds)


class DurableReflectionExecutor(MemorySearch):
    """Submit reflections to a PostgreSQL-backed queue processed by ``reverie worker`` processes.

    ``manager`` is the import path of the memory manager the workers run, e.g.
    ``"myapp.memory:manager"`` (a manager, a reflector function, or a factory without arguments).
    ``submit`` returns a future already holding the job id: the work is persisted, not done.
    A job larger than ``limits.max_payload_bytes`` (``reverie.core.limits.Limits``, 16 MiB by
    default) is refused with a :class:`LimitError` before anything is enqueued.
    """

    def __init__(
        self,
        manager: str,
        dsn: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        store: BaseStore | None = None,
        reflector: Reflector | None = None,
        max_connections: int = 4,
        limits: Limits | None = None,
    ) -> None:
        if not isinstance(manager, str) or ":" not in manager:
            raise ConfigurationError(
                f"manager must be an import path like 'myapp.memory:manager', got {manager!r}."
            )
        self.manager = manager
        self.queue = queue
        self.dsn = resolve_queue_url(dsn)
        self.store = store
        self.limits = limits or DEFAULT_LIMITS
        self._loaded: Reflector | None = reflector
        # Jobs debounce per thread and namespace when the manager is given, else per thread and
        # settings; never the one loaded later for search(), or locks would change midway.
        self._scope_reflector = reflector
        ensure_schema(self.dsn)
        self._connections = QueueConnections(self.dsn, max_connections)

    @property
    def reflector(self) -> Reflector:
        # Only search() needs the manager itself (for its namespace and store).
        if self._loaded is None:
            self._loaded = load_reflector(self.manager)
        return self._loaded

    def _submit(
        self, payload: Any, config: Any, after_seconds: float, thread_id: Any
    ) -> Pipeline[Future[int]]:
        config = submission_config(config, after_seconds)
        thread = submission_thread(config, thread_id)
        encoded_config = encode_config(config)
        key = encoded_config["configurable"].pop("idempotency_key", None) or uuid.uuid4().hex
        # From the settings as stored: what the worker will run with, the same in every process.
        slot = debounce_slot(thread, encoded_config, self._scope_reflector)
        stored = stored_job_args(
            {
                "manager": self.manager,
                "payload": encode_payload(payload),
                "config": encoded_config,
                "thread_id": thread,
                "idempotency_key": str(key),
            },
            self.limits,
        )
        job_id = yield from _QueueScalar(
            self._connections,
            SUBMIT,
            (
                self.queue,
                TASK_NAME,
                thread_lock(self.manager, slot),
                Jsonb(stored, dumps=_as_stored),
                scheduled_at(after_seconds),
            ),
        )
        future: Future[int] = Future()
        future.set_result(job_id)
        return future

    def submit(
        self,
        payload: Any,
        /,
        config: RunnableConfig | None = None,
        *,
        after_seconds: float = 0,
        thread_id: Any = FROM_CONFIG,
    ) -> Future[int]:
        """Persist a reflection job; the returned future holds its id once it is committed."""
        return run(self._submit(payload, config, after_seconds, thread_id))

    async def asubmit(
        self,
        payload: Any,
        /,
        config: RunnableConfig | None = None,
        *,
        after_seconds: float = 0,
        thread_id: Any = FROM_CONFIG,
    ) -> Future[int]:
        return await arun(self._submit(payload, config, after_seconds, thread_id))

    def cancel_pending(
        self, configurable: Mapping[str, Any], *, wait: float = 0.0
    ) -> CancelledJobs:
        """Cancel this manager's jobs not yet taken by a worker whose settings contain
        ``configurable`` (e.g. ``{"langgraph_user_id": "ana"}``), and wait up to ``wait``
        seconds for the ones already running to finish.

        Before erasing a user (:func:`reverie.forget_user`): a job queued earlier and run
        afterwards would write the user's memories again. Erase once ``running`` is 0.
        """
        return run(self._cancel_pending(configurable, wait))

    async def acancel_pending(
        self, configurable: Mapping[str, Any], *, wait: float = 0.0
    ) -> CancelledJobs:
        return await arun(self._cancel_pending(configurable, wait))

    def _cancel_pending(
        self, configurable: Mapping[str, Any], wait: float
    ) -> Pipeline[CancelledJobs]:
        if not isinstance(configurable, Mapping) or not configurable:
            raise InputError(
                "cancel_pending needs the settings that pick the user's jobs, e.g. "
                "{'langgraph_user_id': 'ana'}; an empty match would cancel every job."
            )
        encoded = encode_config({"configurable": dict(configurable)})["configurable"]
        if len(encoded) != len(configurable):
            raise InputError(
                "cancel_pending matches JSON values of the jobs' settings (ids, names); "
                f"{sorted(set(configurable) - set(encoded))} cannot be matched."
            )
        match = (self.queue, TASK_NAME)
        rest = (self.manager, Jsonb(encoded))
        cancelled = yield from _QueueScalar(
            self._connections, _CANCEL_WAITING, (*match, "todo", *rest)
        )
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            running = yield from _QueueScalar(
                self._connections, _COUNT_RUNNING, (*match, "doing", *rest)
            )
            if not running or time.monotonic() >= deadline:
                return CancelledJobs(cancelled, running)
            yield from _Pause(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def job_usage(self, job_id: int) -> list[RunReport]:
        """The result of job ``job_id``: the usage record of each run it made (one per attempt
        that did something; none while it waits or if it had nothing new), oldest first.
        Procrastinate keeps no return values, so workers record the job id with each run's usage
        in the memory store; this reads it from there (whichever namespace the run wrote to)."""
        return run(self._job_usage(job_id))

    async def ajob_usage(self, job_id: int) -> list[RunReport]:
        return await arun(self._job_usage(job_id))

    def _job_usage(self, job_id: int) -> Pipeline[list[RunReport]]:
        port = port_for(resolve_store(self.store, self.reflector))
        return (yield from read_runs(port, (), job_id=job_id, descendants=True))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool | None = None) -> list[Any]:
        """Close the connections. Submitted jobs are in the database already; nothing is pending."""
        self._connections.close()
        return []

    def __enter__(self) -> DurableReflectionExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
