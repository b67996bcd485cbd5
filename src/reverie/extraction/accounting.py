"""The accounting of one store-manager run: its phases timed and traced, its usage recorded
with its memories, one log line at the end.

``accounted_run`` wraps the consolidation pipeline; the pipeline hands each phase's work to
:meth:`RunAccount.phase` and each commit to :meth:`RunAccount.commit`. A manager created with
``usage=False`` gets an account that only passes the work through (the report still counts
calls, tokens and changes; nothing is timed, traced, recorded or logged).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from reverie.core.effects import Commit, Pipeline, StoreBatch
from reverie.core.ports import CommitResult, Expectation, MemoryStorePort, Write
from reverie.extraction.otel_spans import attributes_of
from reverie.extraction.report import RunReport
from reverie.extraction.run_config import configurable, thread_id_of
from reverie.extraction.run_log import log_run, logger
from reverie.extraction.tracing import RUN_NAME, CloseTrace, OpenTrace, Trace
from reverie.extraction.usage import record_writes
from reverie.ledger.usage import usage_put

if TYPE_CHECKING:
    from reverie.extraction.consolidation import Consolidation

R = TypeVar("R")
Phase = Literal["retrieve", "model", "commit"]

# The configurable key through which a durable worker names the job a run belongs to.
JOB_ID_KEY = "reverie_job_id"
_SPAN_FIELDS = (
    "run_id",
    "thread_id",
    "job_id",
    "model_name",
    "model_calls",
    "query_calls",
    "input_tokens",
    "output_tokens",
    "tokens_estimated",
    "embedding_calls",
    "embedded_texts",
    "inserted",
    "updated",
    "superseded",
    "deleted",
    "written",
    "conflicts",
    "nothing_stored",
    "duration_ms",
)


class RunAccount:
    """Times and traces a run's phases, and records its usage in its last commit."""

    def __init__(self, report: RunReport, *, enabled: bool = False) -> None:
        self.report = report
        self.enabled = enabled
        self.trace: Trace | None = None
        self.recorded = False
        self._clock = time.perf_counter()

    def begin(self, namespace: tuple[str, ...], config: RunnableConfig | None) -> None:
        report = self.report
        report.run_id = os.urandom(16).hex()  # random like a uuid4, in a quarter of the time
        report.namespace = namespace
        report.thread_id = thread_id_of(config)
        job_id = configurable(config).get(JOB_ID_KEY)
        report.job_id = job_id if isinstance(job_id, int) else None
        report.started_at = datetime.now(timezone.utc)
        self._clock = time.perf_counter()

    def phase(
        self,
        name: Phase,
        config: RunnableConfig | None,
        work: Callable[[RunnableConfig | None], Pipeline[R]],
        outputs: Callable[[R], Mapping[str, Any]] | None = None,
    ) -> Pipeline[R]:
        """Run ``work`` as phase ``name``: timed, and traced if the run is (``work`` gets the
        config its model calls should use, so they nest under the phase's trace)."""
        if not self.enabled:
            return (yield from work(config))
        trace: Trace | None = None
        if self.trace is not None and self.trace.listened:
            trace = yield from OpenTrace(f"reverie.{name}", {}, config, self.trace)
        started = time.perf_counter()
        try:
            result = yield from work(trace.config if trace is not None else config)
        except Exception as exc:
            self._spent(name, started)
            if trace is not None:
                yield from CloseTrace(trace, {}, error=exc)
            raise
        self._spent(name, started)
        if trace is not None:
            shown = dict(outputs(result)) if outputs is not None else {}
            yield from CloseTrace(trace, shown, attributes_of(shown))
        return result

    def _spent(self, name: Phase, started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        if name == "retrieve":
            self.report.retrieve_ms += elapsed
        elif name == "model":
            self.report.model_ms += elapsed
        else:
            self.report.commit_ms += elapsed

    def commit(
        self,
        port: MemoryStorePort,
        expected: Sequence[Expectation],
        writes: Sequence[Write],
        actions: Mapping[str, int],
        *,
        closing: bool,
        written: int,
    ) -> Pipeline[CommitResult]:
        """Commit one chunk with the run's usage record so far (``written`` memories written in
        all): a run killed between two chunks leaves a record of what its stored chunks did.
        The last (``closing``) commit stores the final record."""
        report = self.report
        report.count_actions(actions)  # so the record written with them counts them
        record_writes(report, writes)
        if self.enabled:
            report.finish(written)
            report.duration_ms = self._elapsed_ms()
            writes = [*writes, usage_put(report)]
        try:
            result = yield from self.phase(
                "commit",
                None,
                lambda _: iter(Commit(port, expected, writes)),
                lambda r: {"committed": r.committed, "writes": len(writes)},
            )
        except BaseException:
            # Nothing of it was stored: the failed run's record must not count its changes.
            report.count_actions(actions, -1)
            raise
        if not result.committed:
            report.count_actions(actions, -1)
            report.conflicts += 1
        elif closing and self.enabled:
            self.recorded = True
        return result

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self._clock) * 1000

    def close(self, port: MemoryStorePort, written: int, error: Exception | None) -> Pipeline[None]:
        """End the run: record its usage if no commit did, close its trace, log it."""
        report = self.report
        if error is not None:
            report.error = f"{type(error).__name__}: {error}"[:500]
        report.finish(written)
        report.duration_ms = self._elapsed_ms()
        did_something = report.calls or report.changed or report.conflicts or error is not None
        if not self.recorded and did_something:
            try:
                # A record has a key of its own that no commit ever checks, so it needs no
                # checked commit (nor its namespace lock): one plain write.
                yield from StoreBatch(port, [usage_put(report)])
            except Exception as exc:  # the run's own outcome matters more than its record
                logger.warning(
                    "The usage record of a memory run could not be stored: %s: %s",
                    type(exc).__name__,
                    exc,
                )
            report.duration_ms = self._elapsed_ms()
        if self.trace is not None and self.trace.listened:
            data = report.to_dict()
            yield from CloseTrace(
                self.trace, data, attributes_of({k: data[k] for k in _SPAN_FIELDS}), error
            )
        log_run(report)


def accounted_run(
    consolidation: Consolidation,
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    messages: list[BaseMessage],
    config: RunnableConfig | None,
    report: RunReport,
    *,
    usage: bool,
) -> Pipeline[list[dict[str, Any]]]:
    """``consolidation.run``, accounted for (see the module docstring)."""
    account = RunAccount(report, enabled=usage)
    if not usage:
        return (yield from consolidation.run(port, namespace, messages, config, report, account))
    account.begin(namespace, config)
    name = (config or {}).get("run_name") or RUN_NAME
    inputs = {"namespace": "/".join(namespace), "thread_id": report.thread_id}
    account.trace = yield from OpenTrace(
        name,
        {**inputs, "messages": len(messages)},
        config,
        attributes=lambda: attributes_of({**inputs, "run_id": report.run_id}),
    )
    try:
        written = yield from consolidation.run(port, namespace, messages, config, report, account)
    except Exception as exc:
        yield from account.close(port, report.inserted + report.updated + report.superseded, exc)
        raise
    yield from account.close(port, len(written), None)
    return written
