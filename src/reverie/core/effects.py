"""One sync/async pattern for the whole library: pipelines that yield effects, and two drivers.

A pipeline is a generator holding every decision of an operation (a manager run, a tool call, a
search). Where it needs I/O it yields an :class:`Effect` (a store batch, a commit, a model call)
and receives the result; ``result = yield from effect`` keeps the result's type. :func:`run`
performs effects by blocking, :func:`arun` by awaiting. So ``invoke`` and ``ainvoke`` of any
Reverie object share all their logic and differ only in which driver they call, and each effect
type is the one place where the sync and async ways of doing one kind of I/O sit side by side.

An exception raised while performing an effect is thrown into the pipeline at its ``yield``, so
a pipeline handles store or model failures with ordinary ``try``/``except``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from langgraph.store.base import Result, SearchItem

from reverie.core.ports import (
    CommitResult,
    Expectation,
    MemoryStorePort,
    NamespaceSearch,
    PortOp,
    Write,
)

# LangChain's runnables are needed only to call a model: Invoke imports them when it runs, so a
# store command (``reverie list``) starts without them.
if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig

T = TypeVar("T")
R = TypeVar("R")


class Effect(ABC, Generic[T]):
    """One piece of I/O a pipeline asks for; ``yield from`` it to get its result."""

    @abstractmethod
    def perform(self) -> T:
        """Do it, blocking."""

    @abstractmethod
    async def aperform(self) -> T:
        """Do it on the running event loop."""

    def __iter__(self) -> Generator[Effect[Any], Any, T]:
        result = yield self
        return cast(T, result)


Pipeline = Generator[Effect[Any], Any, R]


def run(pipeline: Pipeline[R]) -> R:
    """Drive ``pipeline`` to its end, performing each effect by blocking."""
    try:
        effect = next(pipeline)
        while True:
            try:
                value = effect.perform()
            except Exception as exc:
                effect = pipeline.throw(exc)
            else:
                effect = pipeline.send(value)
    except StopIteration as done:
        return cast(R, done.value)


async def arun(pipeline: Pipeline[R]) -> R:
    """Drive ``pipeline`` to its end, awaiting each effect."""
    try:
        effect = next(pipeline)
        while True:
            try:
                value = await effect.aperform()
            except Exception as exc:
                effect = pipeline.throw(exc)
            else:
                effect = pipeline.send(value)
    except StopIteration as done:
        return cast(R, done.value)


class StoreBatch(Effect[list[Result]]):
    """Read (or write without checks) through the port's ``batch``."""

    def __init__(self, port: MemoryStorePort, ops: Sequence[PortOp]) -> None:
        self.port = port
        self.ops = list(ops)

    def perform(self) -> list[Result]:
        return self.port.batch(self.ops)

    async def aperform(self) -> list[Result]:
        return await self.port.abatch(self.ops)


class Search(Effect[list[SearchItem]]):
    """One :class:`NamespaceSearch`."""

    def __init__(self, port: MemoryStorePort, request: NamespaceSearch) -> None:
        self.port = port
        self.request = request

    def perform(self) -> list[SearchItem]:
        (items,) = self.port.batch([self.request])
        return cast(list[SearchItem], items)

    async def aperform(self) -> list[SearchItem]:
        (items,) = await self.port.abatch([self.request])
        return cast(list[SearchItem], items)


class Commit(Effect[CommitResult]):
    """Check ``expected`` and apply ``writes`` atomically (see ``MemoryStorePort.commit``)."""

    def __init__(
        self, port: MemoryStorePort, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> None:
        self.port = port
        self.expected = list(expected)
        self.writes = list(writes)

    def perform(self) -> CommitResult:
        return self.port.commit(self.expected, self.writes)

    async def aperform(self) -> CommitResult:
        return await self.port.acommit(self.expected, self.writes)


class Invoke(Effect[Any]):
    """Call a LangChain runnable (a chat model, a bound model, a chain).

    A config whose callbacks belong to a parent run (a traced phase of a manager run) is made
    the ambient LangChain config while the runnable runs, as LangChain does for a runnable's
    children: otherwise a ``RunnableBinding`` called inside a LangGraph node merges the node's
    callbacks over the config's and attaches the call to the node instead of to its parent.
    """

    def __init__(
        self, runnable: Runnable[Any, Any], input: Any, config: RunnableConfig | None = None
    ) -> None:
        self.runnable = runnable
        self.input = input
        self.config = config

    def perform(self) -> Any:
        if self.config is not None and _names_parent_run(self.config):
            from langchain_core.runnables.config import set_config_context

            with set_config_context(self.config) as context:
                return context.run(self.runnable.invoke, self.input, self.config)
        return self.runnable.invoke(self.input, config=self.config)

    async def aperform(self) -> Any:
        if self.config is not None and _names_parent_run(self.config):
            from langchain_core.runnables.config import set_config_context
            from langchain_core.runnables.utils import coro_with_context

            with set_config_context(self.config) as context:
                return await coro_with_context(
                    self.runnable.ainvoke(self.input, self.config), context
                )
        return await self.runnable.ainvoke(self.input, config=self.config)


def _names_parent_run(config: RunnableConfig) -> bool:
    from langchain_core.callbacks import BaseCallbackManager

    callbacks = config.get("callbacks")
    return isinstance(callbacks, BaseCallbackManager) and callbacks.parent_run_id is not None


__all__ = ["Commit", "Effect", "Invoke", "Pipeline", "Search", "StoreBatch", "arun", "run"]
