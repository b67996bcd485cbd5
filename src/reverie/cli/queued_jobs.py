"""``reverie forget --app``: cancel the durable jobs that would write a namespace's memories again.

A reflection job queued before an erasure and run after it brings the erased memories back. The
manager's namespace template says which jobs write where: the settings that fill it into the
erased namespace (e.g. ``{"langgraph_user_id": "ana"}``) pick the jobs to cancel.
"""

from __future__ import annotations

from reverie.cli import render
from reverie.cli.naming import format_namespace
from reverie.core.errors import ConfigurationError, InputError, JobsStillRunningError
from reverie.executor.durable import DurableReflectionExecutor, resolve_queue_url
from reverie.executor.invoke import Reflector
from reverie.extraction.store_manager import MemoryStoreManager

# How long jobs a worker is already running may take to finish before the erasure is refused.
RUNNING_WAIT_SECONDS = 10.0


def cancel_jobs_writing_to(
    app: str,
    namespace: tuple[str, ...],
    *,
    descendants: bool,
    dsn: str | None,
    store: str | None,
    queue: str,
) -> int:
    """Cancel the waiting jobs of manager ``app`` that write to ``namespace`` (and, with
    ``descendants``, below it); how many. Raises :class:`JobsStillRunningError` while some of
    them are still running after :data:`RUNNING_WAIT_SECONDS`."""
    with DurableReflectionExecutor(app, resolve_queue_url(dsn, store), queue=queue) as executor:
        settings = _settings_writing_to(executor.reflector, app, namespace, descendants)
        if settings is None:
            return 0  # this manager never writes there
        found = executor.cancel_pending(settings, wait=RUNNING_WAIT_SECONDS)
    if found.running:
        shown = format_namespace(namespace)
        raise JobsStillRunningError(
            f"{render.count(found.running, 'job')} of {app} writing to {shown} still running "
            f"after {RUNNING_WAIT_SECONDS:g} s, so nothing was erased "
            f"({render.count(found.cancelled, 'waiting job')} cancelled). Run forget again once "
            "the workers have finished them.",
            running=found.running,
        )
    return found.cancelled


def _settings_writing_to(
    reflector: Reflector, app: str, namespace: tuple[str, ...], descendants: bool
) -> dict[str, str] | None:
    """The job settings that make ``reflector`` write to ``namespace``; None if none do."""
    shown = format_namespace(namespace)
    if not isinstance(reflector, MemoryStoreManager):
        raise ConfigurationError(
            f"{app} is not a memory manager, so which of its jobs write to {shown} is unknown. "
            "Cancel them with DurableReflectionExecutor.cancel_pending(...) and forget without "
            "--app."
        )
    settings = reflector.namespace.settings_for(namespace, descendants=descendants)
    if settings == {}:
        # cancel_pending refuses an empty match: it would cancel every job of the manager.
        raise InputError(
            f"Every job of {app} writes to {shown}, so no user's jobs can be picked out. Stop "
            "submitting, let the workers empty the queue, then forget without --app."
        )
    return settings
