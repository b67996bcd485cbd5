"""The work of one memory store manager run, written once as a pipeline (``reverie.core.effects``).

For each chunk of new messages: search the namespace for related memories, show them to the
model under short ids, apply its operations to a working set, and commit the result together
with the thread's progress. A commit that finds a memory or the thread's progress changed by
someone else writes nothing; the chunk is then read and consolidated again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.store.base import GetOp, Item, PutOp, SearchItem
from pydantic import BaseModel

from reverie.core.effects import Commit, Invoke, Pipeline, StoreBatch
from reverie.core.errors import ConfigurationError, ConflictError
from reverie.core.limits import DEFAULT_LIMITS, Limits, check_key
from reverie.core.ports import Expectation, MemoryStorePort, Write
from reverie.core.types import stored_value
from reverie.extraction.accounting import RunAccount
from reverie.extraction.budget import chunk_messages
from reverie.extraction.chunk_time import DatedChunk, date_chunk, read_time_records
from reverie.extraction.engine import ExtractionEngine, RoundInput, queries_from, query_messages
from reverie.extraction.event_time import reference_time
from reverie.extraction.messages import render_messages
from reverie.extraction.report import RunReport
from reverie.extraction.run_config import idempotency_key_of, thread_id_of
from reverie.extraction.schemas import SchemaToolkit
from reverie.extraction.usage import count_truncated, record_query_reply, record_searches
from reverie.extraction.working_set import (
    Entry,
    Supersession,
    WorkingSet,
    apply_operations,
    expectations_for,
    plan_writes,
)
from reverie.ledger.history import history_put
from reverie.ledger.retention import default_ttl
from reverie.ledger.search import search_memories
from reverie.ledger.thread_state import ThreadState, context_line, state_namespace
from reverie.ledger.timeline import Moment, timeline_writes

DEFAULT_KEY = "default"

DefaultFactory = Callable[[RunnableConfig], Any]


@dataclass(frozen=True)
class Consolidation:
    """Everything a run needs besides its input; built once per manager."""

    toolkit: SchemaToolkit
    engine: ExtractionEngine
    phase_engines: list[tuple[ExtractionEngine, bool]]  # (engine, include_messages)
    query_model: Runnable[Any, Any] | None
    query_limit: int
    default_factory: DefaultFactory | None
    history: bool
    max_conflict_retries: int
    incremental: bool
    context_messages: int
    conversation_budget: int
    supersede: bool = True  # close changed memories' versions instead of overwriting them
    limits: Limits = DEFAULT_LIMITS

    def run(
        self,
        port: MemoryStorePort,
        namespace: tuple[str, ...],
        messages: list[BaseMessage],
        config: RunnableConfig | None,
        report: RunReport | None = None,
        account: RunAccount | None = None,
    ) -> Pipeline[list[dict[str, Any]]]:
        """Consolidate ``messages`` into ``namespace``; the memories written. ``report`` counts
        the run's model calls, tokens and changes; ``account`` times, traces and records them
        (``reverie.extraction.accounting``)."""
        report = report if report is not None else RunReport()
        account = account if account is not None else RunAccount(report)
        reference = reference_time(config)
        thread_id = thread_id_of(config)
        if thread_id is not None:  # the key of the thread's progress record
            check_key(thread_id, self.limits, "thread_id", memory=True)
        idempotency = idempotency_key_of(config)
        rendered = render_messages(messages)
        track = self.incremental and thread_id is not None
        # Memories and their records follow the store's retention policy, as store.put's would;
        # the thread's progress keeps no TTL (it is bookkeeping, not what was remembered).
        ttl = default_ttl(port)
        state_ns = state_namespace(namespace)
        state, state_value = ThreadState(), None
        if track and thread_id is not None:
            state_value = yield from _read_value(port, state_ns, thread_id)
            state = ThreadState.from_value(state_value)
        new, context = state.split(rendered, self.context_messages) if track else (rendered, [])
        if not new and not self.phase_engines:
            return []

        written: list[dict[str, Any]] = []
        chunks = chunk_messages(new, self.conversation_budget) or [[]]
        report.truncated_messages += count_truncated(new, chunks)
        conflicts = 0
        index = 0
        held_back = False  # a chunk's reply was unreadable: progress stops before it
        while index < len(chunks):
            lines = [m.line for m in chunks[index]]
            dated = date_chunk(chunks[index], reference, datetime.now(timezone.utc))
            entries = yield from account.phase(
                "retrieve",
                config,
                partial(self._retrieve, port, namespace, lines, report=report),
                lambda found: {"memories": len(found)},
            )
            unusable_before = report.unusable_replies
            yield from account.phase(
                "model",
                config,
                partial(self._consolidate, entries, context, dated, report=report),
                lambda _: {"operations": report.operations},
            )
            if track and report.unusable_replies > unusable_before and not held_back:
                # Nothing could be read from these messages, which is not the same as nothing
                # worth remembering in them: leave them (and those after) to the next run.
                held_back = True
                report.warnings.append(
                    "The thread's progress stops before the messages whose reply could not be "
                    "read: its next run reads them again."
                )
            supersession = None
            if self.supersede:
                records = yield from read_time_records(port, namespace, entries)
                moment = Moment(dated.event_time, datetime.now(timezone.utc), thread_id)
                supersession = Supersession(moment, records, port.default_index_fields())
            plan = plan_writes(
                namespace,
                entries,
                thread_id,
                f"{idempotency}:{index}" if idempotency else None,
                history=self.history,
                supersession=supersession,
                run_id=report.run_id,
                ttl=ttl,
            )
            expected = expectations_for(entries)
            writes: list[Write] = list(plan.writes)
            next_state = state
            if track and thread_id is not None:
                # The thread's progress is written with the memories and checked like them, so
                # two runs handed the same thread at once cannot both consolidate its messages.
                next_state = copy.deepcopy(state)
                if not held_back:
                    next_state.advance(chunks[index], self.context_messages)
                writes.append(PutOp(state_ns, thread_id, next_state.to_value(), index=False))
                expected.append(Expectation(state_ns, thread_id, state_value))
            result = yield from account.commit(
                port,
                expected,
                writes,
                plan.actions,
                closing=index == len(chunks) - 1,
                written=len(written) + len(plan.written),
            )
            if not result.committed:
                conflicts += 1
                if conflicts > self.max_conflict_retries:
                    raise ConflictError(
                        f"Memories in {namespace} kept changing while this run consolidated "
                        f"them ({conflicts} attempts). Run it again, or route writers for one "
                        "namespace through one ReflectionExecutor."
                    )
                if track and thread_id is not None:
                    # Re-read the thread's progress: another run may have done part of the work.
                    state_value = yield from _read_value(port, state_ns, thread_id)
                    state = ThreadState.from_value(state_value)
                    new, context = state.split(rendered, self.context_messages)
                    if not new:
                        return written
                    chunks = chunk_messages(new, self.conversation_budget) or [[]]
                    index = 0
                    held_back = False
                continue  # re-read the memories and ask the model again
            written.extend(plan.written)
            state = next_state
            if track:
                state_value = state.to_value()
            context = (
                (context + [context_line(line) for line in lines])[-self.context_messages :]
                if self.context_messages
                else []
            )
            index += 1
        return written

    def _queries(
        self, lines: list[str], config: RunnableConfig | None, report: RunReport
    ) -> Pipeline[list[str]]:
        if self.query_model is None or not lines:
            return default_queries(lines)
        messages = query_messages(lines)
        reply = yield from Invoke(self.query_model, messages, config)
        record_query_reply(report, reply, messages)
        return queries_from(reply)[: self.query_limit] or default_queries(lines)

    def _retrieve(
        self,
        port: MemoryStorePort,
        namespace: tuple[str, ...],
        lines: list[str],
        config: RunnableConfig | None,
        *,
        report: RunReport,
    ) -> Pipeline[WorkingSet]:
        queries = yield from self._queries(lines, config, report)
        record_searches(report, len(queries))
        found: dict[str, SearchItem] = {}
        for query in queries:
            items = yield from search_memories(
                port, namespace, query=query, limit=self.query_limit * 2
            )
            for item in items:
                best = found.get(item.key)
                if best is None or (item.score or 0.0) > (best.score or 0.0):
                    found[item.key] = item
        ranked = sorted(
            found.values(), key=lambda i: i.score if i.score is not None else -1.0, reverse=True
        )
        entries: WorkingSet = {}
        for item in ranked[: self.query_limit]:
            content = self.content_of(item)
            if content is not None:
                entries[str(len(entries) + 1)] = Entry(item.key, content, item)
        if not entries and self.default_factory is not None:
            default = yield from self._default_memory(port, namespace, config)
            if default is not None:
                entries["1"] = default
        return entries

    def _default_memory(
        self, port: MemoryStorePort, namespace: tuple[str, ...], config: RunnableConfig | None
    ) -> Pipeline[Entry | None]:
        """The namespace's default memory, created from ``default_factory`` if absent."""
        assert self.default_factory is not None
        existing = yield from _read(port, namespace, DEFAULT_KEY)
        content = self.content_of(existing) if existing is not None else None
        if existing is not None and content is not None:
            return Entry(DEFAULT_KEY, content, existing)
        value = stored_value(self.toolkit.coerce(None, self.default_factory(config or {})))
        ttl = default_ttl(port)  # the store's retention policy, as for every memory of a run
        writes: list[Write] = [PutOp(namespace, DEFAULT_KEY, value, ttl=ttl)]
        if self.history:
            thread_id = thread_id_of(config)
            writes.append(
                history_put(namespace, DEFAULT_KEY, "insert", None, value, thread_id, ttl=ttl)
            )
        if self.supersede:
            now = datetime.now(timezone.utc)
            moment = Moment(now, now, thread_id_of(config))
            writes += timeline_writes(
                namespace,
                DEFAULT_KEY,
                None,
                None,
                value,
                moment,
                ttl,
                store_fields=port.default_index_fields(),
            )
        # Only create it if it is still absent: a concurrent run may have made and updated it.
        yield from Commit(port, [Expectation(namespace, DEFAULT_KEY, None)], writes)
        created = yield from _read(port, namespace, DEFAULT_KEY)
        stored = self.content_of(created) if created is not None else None
        return Entry(DEFAULT_KEY, stored, created) if stored is not None else None

    def content_of(self, item: Item) -> BaseModel | None:
        """Stored values another writer made unreadable are skipped, never rewritten."""
        value = item.value
        if not isinstance(value, dict):
            return None
        kind, content = value.get("kind"), value.get("content")
        if kind not in self.toolkit.schemas:
            return None
        try:
            return self.toolkit.coerce(kind, content)
        except (ConfigurationError, ValueError):
            return None

    def _consolidate(
        self,
        entries: WorkingSet,
        context: list[str],
        dated: DatedChunk,
        config: RunnableConfig | None,
        *,
        report: RunReport,
    ) -> Pipeline[None]:
        lines = dated.prompt_lines
        if lines:
            shown = [(alias, e.content) for alias, e in entries.items()]
            operations = yield from self.engine.round(
                RoundInput(shown, context, lines, dated.dates), config, report
            )
            apply_operations(entries, operations)
        for engine, include_messages in self.phase_engines:
            shown = [(alias, e.content) for alias, e in entries.items() if not e.deleted]
            if not shown and not include_messages:
                continue
            round_input = RoundInput(
                shown,
                context if include_messages else [],
                lines if include_messages else [],
                dated.dates if include_messages else None,
            )
            operations = yield from engine.round(round_input, config, report)
            apply_operations(entries, operations)


def default_queries(lines: list[str]) -> list[str]:
    """One query: the newest part of the exchange (embedders read only the first few hundred
    tokens)."""
    if not lines:
        return []
    return ["\n".join(lines)[-1500:]]


def bind_query_model(model: BaseChatModel, tool: Any) -> Runnable[Any, Any]:
    return model.bind_tools([tool], tool_choice="any")


def _read(port: MemoryStorePort, namespace: tuple[str, ...], key: str) -> Pipeline[Item | None]:
    (item,) = yield from StoreBatch(port, [GetOp(namespace, key, refresh_ttl=False)])
    return item if isinstance(item, Item) else None


def _read_value(
    port: MemoryStorePort, namespace: tuple[str, ...], key: str
) -> Pipeline[dict[str, Any] | None]:
    item = yield from _read(port, namespace, key)
    return item.value if item is not None else None
