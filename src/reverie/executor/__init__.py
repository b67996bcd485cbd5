"""Background memory processing: in-process (``ReflectionExecutor``) and durable, on PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reverie.executor.local import CancelledSubmission, ReflectionExecutor

if TYPE_CHECKING:
    from reverie.executor.durable import DurableReflectionExecutor
    from reverie.executor.worker import run_worker

__all__ = ["CancelledSubmission", "DurableReflectionExecutor", "ReflectionExecutor", "run_worker"]


def __getattr__(name: str) -> Any:
    # The durable mode imports procrastinate and psycopg; only load them when asked for.
    if name == "DurableReflectionExecutor":
        from reverie.executor.durable import DurableReflectionExecutor

        return DurableReflectionExecutor
    if name == "run_worker":
        from reverie.executor.worker import run_worker

        return run_worker
    raise AttributeError(f"module 'reverie.executor' has no attribute {name!r}")
