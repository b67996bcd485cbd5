"""The durable queue: procrastinate jobs in the PostgreSQL database that holds the memories.

Debouncing: jobs of one conversation thread share a procrastinate ``lock`` (so they never run at
the same time). Submitting takes a transaction-scoped advisory lock on that thread, cancels the
thread's job still waiting in the queue and defers the new one, all in one transaction: the latest
payload wins, even with submitters in several processes. (procrastinate's ``queueing_lock`` is not
used: a retried job would collide with a newer waiting one on its unique index and stay stuck.)
"""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
from procrastinate import App, PsycopgConnector, RetryStrategy
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision
from procrastinate.schema import SchemaManager

from reverie.core.errors import ConfigurationError, InputError, NamespaceError

TASK_NAME = "reverie.reflect"
DEFAULT_QUEUE = "reverie"
# Advisory lock class ids ("REVE", "REVF") keep Reverie's locks apart from the application's.
THREAD_LOCK_CLASS = 0x52455645
_SCHEMA_LOCK_CLASS = 0x52455646

LOCK_THREAD = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
CANCEL_WAITING = (
    "SELECT procrastinate_cancel_job_v1(id, false, false) FROM procrastinate_jobs "
    "WHERE lock = %s AND status = 'todo' AND task_name = %s"
)
# procrastinate indexes its waiting jobs by queueing_lock, not lock; submits look up by lock.
_WAITING_BY_LOCK_INDEX = (
    "CREATE INDEX IF NOT EXISTS reverie_jobs_waiting_lock_idx "
    "ON procrastinate_jobs (lock) WHERE status = 'todo'"
)


def thread_lock(manager: str, thread_id: str | None) -> str | None:
    return f"reverie:{manager}:{thread_id}" if thread_id is not None else None


def reflection_job(
    *,
    queue: str,
    lock: str | None,
    kwargs: dict[str, Any],
    after_seconds: float,
) -> Job:
    scheduled_at = (
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=after_seconds)
        if after_seconds > 0
        else None
    )
    return Job(
        id=None,
        queue=queue,
        lock=lock,
        queueing_lock=None,
        task_name=TASK_NAME,
        task_kwargs=kwargs,
        scheduled_at=scheduled_at,
    )


def ensure_schema(dsn: str) -> None:
    """Install procrastinate's tables once per database (safe with several processes starting)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s, 0)", (_SCHEMA_LOCK_CLASS,))
            try:
                row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
                if row is None or row[0] is None:
                    conn.execute(SchemaManager.get_schema())
                conn.execute(_WAITING_BY_LOCK_INDEX)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, 0)", (_SCHEMA_LOCK_CLASS,))
    except psycopg.OperationalError as exc:
        raise ConfigurationError(
            f"Cannot reach the queue database ({exc}). Check the postgresql:// URL."
        ) from exc


class ReflectionRetry(RetryStrategy):
    """Retry failed reflections with backoff, except failures a retry cannot fix."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, (ConfigurationError, InputError, NamespaceError)):
            return None
        return super().get_retry_decision(exception=exception, job=job)


def build_app(dsn: str, *, max_connections: int = 10) -> App:
    """A procrastinate App on ``dsn`` with the reflection task registered."""
    from reverie.executor.jobs import reflect_job

    app = App(connector=PsycopgConnector(conninfo=dsn, min_size=1, max_size=max_connections))
    app.task(
        name=TASK_NAME,
        pass_context=True,
        retry=ReflectionRetry(max_attempts=5, exponential_wait=2),
    )(reflect_job)
    return app
