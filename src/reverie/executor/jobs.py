"""What a worker does with one reflection job."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from procrastinate import JobContext

from reverie.core.errors import ConfigurationError
from reverie.core.ports import NativeStore
from reverie.executor.context import background_config
from reverie.executor.factory import load_reflector
from reverie.executor.invoke import Reflector, run_reflector
from reverie.executor.payload import decode_payload
from reverie.extraction.accounting import JOB_ID_KEY
from reverie.extraction.report import ReportedList
from reverie.extraction.run_log import summary

logger = logging.getLogger("reverie.executor")

STATE_KEY = "reverie"


@dataclass
class WorkerState:
    """The managers a worker serves (built once per process) and the store they write to."""

    manager: str
    store: NativeStore | None = None  # opened by the worker (closed when it stops)
    _reflectors: dict[str, Reflector] = field(default_factory=dict)

    def reflector(self, path: str) -> Reflector:
        if path != self.manager:
            raise ConfigurationError(
                f"This worker serves {self.manager!r} but the job names {path!r}; give each "
                "manager its own queue (queue=...) and worker."
            )
        if path not in self._reflectors:
            self._reflectors[path] = load_reflector(path)
        return self._reflectors[path]


async def reflect_job(
    context: JobContext,
    *,
    manager: str,
    payload: Any,
    config: dict[str, Any],
    thread_id: str | None,
    idempotency_key: str,
) -> None:
    state: WorkerState = context.additional_context[STATE_KEY]
    reflector = state.reflector(manager)
    configurable = dict(config.get("configurable") or {})
    # A retried job carries the same key, so the manager rewrites the same memory keys.
    configurable["idempotency_key"] = idempotency_key
    if thread_id is not None:
        configurable["thread_id"] = thread_id
    # The run's usage record carries the job id: procrastinate keeps no return values, so that
    # record is the job's result (DurableReflectionExecutor.job_usage, `reverie stats --job`).
    configurable[JOB_ID_KEY] = context.job.id
    run_config = background_config(cast(RunnableConfig, {**config, "configurable": configurable}))
    started = time.perf_counter()
    try:
        result = await run_reflector(reflector, decode_payload(payload), run_config, state.store)
    except Exception as exc:
        logger.error(
            "Reflection job %s failed (thread %s, attempt %d): %s: %s",
            context.job.id,
            thread_id,
            context.job.attempts + 1,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        raise
    logger.info(
        "Reflection job %s (thread %s) done in %.2f s%s",
        context.job.id,
        thread_id,
        time.perf_counter() - started,
        f": {summary(result.report)}" if isinstance(result, ReportedList) else "",
    )
