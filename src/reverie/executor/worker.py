"""``reverie worker``: process durable reflection jobs, and recover those of workers that died.

Start one or more per machine: ``reverie worker --app myapp.memory:manager --dsn postgresql://...``.
Each worker sends a heartbeat; jobs left running by a worker whose heartbeat stopped (killed,
machine lost) are put back in the queue by the surviving workers and run again. Re-running is safe:
the job's idempotency key makes the manager write the same memory keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from procrastinate import App

from reverie.core.errors import ConfigurationError
from reverie.executor.durable import resolve_queue_url
from reverie.executor.jobs import STATE_KEY, WorkerState
from reverie.executor.queue import DEFAULT_QUEUE, TASK_NAME, build_app, ensure_schema
from reverie.extraction.store_manager import MemoryStoreManager
from reverie.stores import open_store

logger = logging.getLogger("reverie.executor")


def run_worker(
    factory_path: str,
    dsn: str | None = None,
    *,
    store: str | None = None,
    concurrency: int = 1,
    queue: str = DEFAULT_QUEUE,
    heartbeat_seconds: float = 10.0,
    stalled_after_seconds: float = 30.0,
    wait: bool = True,
) -> None:
    """Run a worker for the manager at ``factory_path`` until stopped (SIGINT / SIGTERM).

    ``dsn`` is the queue database (default ``$REVERIE_QUEUE_URL``, else a postgresql:// ``store``).
    ``store`` is where memories go when the manager was built without one. With ``wait=False`` the
    worker returns once the queue has nothing left to run now.
    """
    _show_logs()
    asyncio.run(
        run_worker_async(
            factory_path,
            dsn,
            store=store,
            concurrency=concurrency,
            queue=queue,
            heartbeat_seconds=heartbeat_seconds,
            stalled_after_seconds=stalled_after_seconds,
            wait=wait,
        )
    )


async def run_worker_async(
    factory_path: str,
    dsn: str | None = None,
    *,
    store: str | None = None,
    concurrency: int = 1,
    queue: str = DEFAULT_QUEUE,
    heartbeat_seconds: float = 10.0,
    stalled_after_seconds: float = 30.0,
    wait: bool = True,
) -> None:
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}.")
    if stalled_after_seconds <= heartbeat_seconds:
        raise ConfigurationError(
            "stalled_after_seconds must exceed heartbeat_seconds, or live workers look dead."
        )
    url = resolve_queue_url(dsn, store)
    state = WorkerState(manager=factory_path)
    reflector = state.reflector(factory_path)  # fail now, not at the first job
    if store is not None and not (
        isinstance(reflector, MemoryStoreManager) and reflector.explicit_store is not None
    ):
        state.store = open_store(store)
    ensure_schema(url)
    app = build_app(url, max_connections=concurrency + 4)
    logger.info(
        "Worker for %s on queue %r (concurrency %d) started", factory_path, queue, concurrency
    )
    async with app.open_async():
        recovery = asyncio.create_task(
            _recover_stalled_jobs(app, queue, stalled_after_seconds, heartbeat_seconds)
        )
        try:
            await app.run_worker_async(
                queues=[queue],
                concurrency=concurrency,
                wait=wait,
                additional_context={STATE_KEY: state},
                update_heartbeat_interval=heartbeat_seconds,
                stalled_worker_timeout=stalled_after_seconds,
                install_signal_handlers=True,
                name="reverie-worker",
            )
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery
            if state.store is not None:
                state.store.close()


async def recover_stalled_jobs(app: App, queue: str, stalled_after_seconds: float) -> int:
    """Requeue reflection jobs whose worker stopped sending heartbeats. Returns how many."""
    stalled = await app.job_manager.get_stalled_jobs(
        queue=queue, task_name=TASK_NAME, seconds_since_heartbeat=stalled_after_seconds
    )
    recovered = 0
    for job in stalled:
        try:
            # Same job id and arguments: it runs before newer jobs of its thread, same keys.
            await app.job_manager.retry_job(job)
        except Exception as exc:  # another worker requeued it first
            logger.debug("Job %s was not requeued: %s", job.id, exc)
            continue
        recovered += 1
        logger.warning(
            "Requeued reflection job %s (thread %s): its worker stopped responding",
            job.id,
            job.task_kwargs.get("thread_id"),
        )
    return recovered


async def _recover_stalled_jobs(
    app: App, queue: str, stalled_after_seconds: float, every_seconds: float
) -> None:
    while True:
        try:
            await recover_stalled_jobs(app, queue, stalled_after_seconds)
            await app.job_manager.prune_stalled_workers(stalled_after_seconds)
        except Exception as exc:
            logger.error("Stalled-job recovery failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(every_seconds)


def _show_logs() -> None:
    """A worker run from a shell reports what it does, unless the application set up logging."""
    if logging.getLogger().handlers:
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
