"""Each manager run as a LangChain run with one child run per phase, and as OpenTelemetry spans.

LangChain callback handlers (LangSmith's tracer, Langfuse's, your own) see a chain run named
``reverie.memory_run`` (or the config's ``run_name``) under whatever run called the manager,
with children ``reverie.retrieve``, ``reverie.model`` (the model's own LangChain runs nest in
it) and ``reverie.commit`` for each chunk of new messages. With an OpenTelemetry SDK configured,
the same tree is exported as spans (``otel_spans``).

Opening and closing a run are effects: handlers may be async, so the async driver awaits an
``AsyncCallbackManager`` where the sync driver calls a ``CallbackManager``. When nobody listens
(no handler, no recording span) the run and its phases are not traced at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForChainRun,
    CallbackManager,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    patch_config,
)

from reverie.core.effects import Effect
from reverie.extraction.otel_spans import Attributes, end_span, start_span

RUN_NAME = "reverie.memory_run"

ChainRun = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun


@dataclass(frozen=True)
class Trace:
    """An open run (a manager run, or one of its phases) as the tracers see it.

    ``config`` is what work inside it runs with, so that the model's own runs nest under it.
    """

    run: ChainRun | None
    span: Any | None
    config: RunnableConfig | None

    @property
    def listened(self) -> bool:
        return self.run is not None or self.span is not None


class OpenTrace(Effect[Trace]):
    """Start a run named ``name``: under ``parent``, or for a manager run (``parent=None``)
    under the run that ``config`` (or the surrounding LangChain run) belongs to."""

    def __init__(
        self,
        name: str,
        inputs: Mapping[str, Any],
        config: RunnableConfig | None,
        parent: Trace | None = None,
        attributes: Callable[[], Attributes] | None = None,
    ) -> None:
        self.name = name
        self.inputs = dict(inputs)
        self.config = config
        self.parent = parent
        self.attributes = attributes

    def perform(self) -> Trace:
        run: ChainRun | None = None
        if self.parent is None:
            manager: CallbackManager | None = get_callback_manager_for_config(
                ensure_config(self.config)
            )
        elif isinstance(self.parent.run, CallbackManagerForChainRun):
            manager = self.parent.run.get_child()
        else:
            manager = None
        if manager is not None and manager.handlers:
            run = manager.on_chain_start(
                None, self.inputs, name=self.name, run_type="chain", run_id=self._run_id()
            )
        return self._opened(run)

    async def aperform(self) -> Trace:
        run: ChainRun | None = None
        if self.parent is None:
            amanager: AsyncCallbackManager | None = get_async_callback_manager_for_config(
                ensure_config(self.config)
            )
        elif isinstance(self.parent.run, AsyncCallbackManagerForChainRun):
            amanager = self.parent.run.get_child()
        else:
            amanager = None
        if amanager is not None and amanager.handlers:
            run = await amanager.on_chain_start(
                None, self.inputs, name=self.name, run_type="chain", run_id=self._run_id()
            )
        return self._opened(run)

    def _run_id(self) -> uuid.UUID | None:
        # A caller's run_id names the manager run itself, as for any LangChain runnable.
        run_id = (self.config or {}).get("run_id") if self.parent is None else None
        return run_id if isinstance(run_id, uuid.UUID) else None

    def _opened(self, run: ChainRun | None) -> Trace:
        parent_span = self.parent.span if self.parent is not None else None
        span = (
            None
            if self.parent is not None and parent_span is None
            else start_span(self.name, parent_span, self.attributes)
        )
        config = self.config
        if run is not None:
            config = patch_config(config, callbacks=run.get_child())
        return Trace(run, span, config)


class CloseTrace(Effect[None]):
    """End ``trace`` with its outputs, or with the error the work raised."""

    def __init__(
        self,
        trace: Trace,
        outputs: Mapping[str, Any],
        attributes: Attributes | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.trace = trace
        self.outputs = dict(outputs)
        self.attributes = attributes or {}
        self.error = error

    def perform(self) -> None:
        run = self.trace.run
        if isinstance(run, CallbackManagerForChainRun):
            if self.error is not None:
                run.on_chain_error(self.error)
            else:
                run.on_chain_end(self.outputs)
        self._end_span()

    async def aperform(self) -> None:
        run = self.trace.run
        if isinstance(run, AsyncCallbackManagerForChainRun):
            if self.error is not None:
                await run.on_chain_error(self.error)
            else:
                await run.on_chain_end(self.outputs)
        self._end_span()

    def _end_span(self) -> None:
        if self.trace.span is not None:
            end_span(self.trace.span, self.attributes, self.error)
