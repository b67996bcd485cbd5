"""The durable queue: procrastinate jobs in the PostgreSQL database that holds the memories.

Debouncing: jobs of one conversation thread of one user share a procrastinate ``lock`` (so they
never run at the same time). Submitting takes a transaction-scoped advisory lock on that lock,
cancels its job still waiting in the queue and defers the new one, all in one transaction: the
latest payload wins, even with submitters in several processes. (procrastinate's
``queueing_lock`` is not used: a retried job would collide with a newer waiting one on its unique
index and stay stuck.)
"""

from __future__ import annotations

import datetime
import hashlib
import json

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

# procrastinate indexes its waiting jobs by queueing_lock, not lock; submits look up by lock.
_WAITING_BY_LOCK_INDEX = (
    "CREATE INDEX IF NOT EXISTS reverie_jobs_waiting_lock_idx "
    "ON procrastinate_jobs (lock) WHERE status = 'todo'"
)
# One statement per submit (one round trip, atomic): lock the thread, cancel its waiting job,
# defer the new one through procrastinate's own functions.
_SUBMIT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION reverie_defer_reflection_v1(
    p_queue varchar, p_task varchar, p_lock text, p_args jsonb, p_scheduled_at timestamptz
) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF p_lock IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock({THREAD_LOCK_CLASS}, hashtext(p_lock));
        PERFORM procrastinate_cancel_job_v1(id, false, false)
           FROM procrastinate_jobs
          WHERE lock = p_lock AND status = 'todo' AND task_name = p_task;
    END IF;
    RETURN (procrastinate_defer_jobs_v1(ARRAY[
        ROW(p_queue, p_task, 0, p_lock, NULL, p_args, p_scheduled_at)::procrastinate_job_to_defer_v1
    ]))[1];
END;
$$;
"""
SUBMIT = "SELECT reverie_defer_reflection_v1(%s, %s, %s, %s, %s)"


def thread_lock(manager: str, slot: tuple[str, str, str] | None) -> str | None:
    """The procrastinate lock of a debounce slot (``context.debounce_slot``) of ``manager``.

    The manager and thread stay readable for whoever looks at the queue; the digest covers
    the whole slot, so users sharing a thread id get locks of their own.
    """
    if slot is None:
        return None
    text = json.dumps([manager, *slot], ensure_ascii=False).encode("utf-8")
    return f"reverie:{manager}:{slot[-1]}:{hashlib.sha256(text).hexdigest()[:32]}"


def scheduled_at(after_seconds: float) -> datetime.datetime | None:
    if after_seconds <= 0:
        return None
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=after_seconds)


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
                conn.execute(_SUBMIT_FUNCTION)
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
        # procrastinate's max_attempts counts retries: 4 of them make the documented 5 attempts.
        retry=ReflectionRetry(max_attempts=4, exponential_wait=2),
    )(reflect_job)
    return app
