"""Calling a reflector (a Runnable such as a memory manager, or a plain function) in the background."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.func import entrypoint
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError
from reverie.extraction.store_manager import MemoryStoreManager

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
    store: BaseStore | None,
    *,
    threads: Executor | None = None,
) -> Any:
    """Run one reflection with ``store`` as its store: a memory manager directly, anything else
    as a LangGraph run of its own.

    Inside such a run, ``langgraph.config.get_store()`` and ``get_config()`` work exactly as in a graph
    node (a memory manager created without a store finds it there). Async reflectors run on the
    current loop; sync ones in ``threads`` (default: the loop's pool), in the run's context. The
    run itself is always driven asynchronously, so it needs no thread of LangGraph's own.
    """
    if isinstance(reflector, MemoryStoreManager):
        # A memory manager needs nothing of a LangGraph run but its store, so it is given the
        # store directly: a run of its own costs more than the whole reflection with a fast model.
        if reflector.explicit_store is not None:
            return await reflector.ainvoke(payload, config)
        if store is not None:
            return await reflector.with_store(store).ainvoke(payload, config)
    loop = asyncio.get_running_loop()

    async def reverie_reflection(payload: Any, *, config: RunnableConfig) -> Any:
        if is_async(reflector):
            return await call_async(reflector, payload, config)
        context = contextvars.copy_context()  # carries the run's config and store
        return await loop.run_in_executor(
            threads, context.run, call_sync, reflector, payload, config
        )

    return await entrypoint(store=store)(reverie_reflection).ainvoke(payload, config)
