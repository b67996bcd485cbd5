"""Calling a reflector (a Runnable such as a memory manager, or a plain function) in the background."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from reverie.core.errors import ConfigurationError
from reverie.executor.context import context_with

Reflector = Runnable[Any, Any] | Callable[..., Any]


def check_reflector(reflector: Any) -> Reflector:
    if isinstance(reflector, Runnable) or callable(reflector):
        return reflector  # type: ignore[no-any-return]
    raise ConfigurationError(
        "reflector must be a memory manager (a Runnable such as create_memory_store_manager(...)) "
        f"or a function taking (payload, config); got {type(reflector).__name__}."
    )


def is_async(reflector: Reflector) -> bool:
    """Whether the reflector does its waiting on an event loop rather than in a thread."""
    if isinstance(reflector, Runnable):
        # A Runnable's ainvoke is native unless it is the base class's thread fallback.
        return type(reflector).ainvoke is not Runnable.ainvoke
    target = reflector.__call__ if not inspect.isroutine(reflector) else reflector  # type: ignore[operator]
    return inspect.iscoroutinefunction(target)


def _accepts_config(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def call_sync(reflector: Reflector, payload: Any, config: RunnableConfig) -> Any:
    if isinstance(reflector, Runnable):
        return reflector.invoke(payload, config)
    if _accepts_config(reflector):
        return reflector(payload, config)
    return reflector(payload)


async def call_async(reflector: Reflector, payload: Any, config: RunnableConfig) -> Any:
    if isinstance(reflector, Runnable):
        return await reflector.ainvoke(payload, config)
    result = reflector(payload, config) if _accepts_config(reflector) else reflector(payload)
    if inspect.isawaitable(result):
        return await result
    return result


async def run_reflector(
    reflector: Reflector,
    payload: Any,
    config: RunnableConfig,
    *,
    threads: Executor | None = None,
) -> Any:
    """Run one reflection with ``config`` as the ambient run config (so ``get_store()`` works).

    Async reflectors run on the current loop; sync ones in ``threads`` (default: the loop's pool).
    """
    context = context_with(config)
    if is_async(reflector):
        # The task copies the context it is created in (works on Python 3.10, unlike context=).
        task = context.run(asyncio.create_task, call_async(reflector, payload, config))
        return await task
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(threads, context.run, call_sync, reflector, payload, config)
