"""``create_memory_store_manager``: search, consolidate and write memories in a LangGraph store.

The work of one call is written once, as a generator that yields the I/O it needs (store batches,
model rounds); a sync and an async driver execute those requests. So ``invoke`` and ``ainvoke``
share every decision and differ only in how they wait.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.store.base import BaseStore, GetOp, Item, Op, PutOp, SearchItem, SearchOp
from pydantic import BaseModel

from reverie.core.errors import ConfigurationError, ConflictError, InputError
from reverie.core.namespace import NamespaceTemplate
from reverie.core.types import Memory, stored_value
from reverie.extraction.budget import chunk_messages
from reverie.extraction.engine import ExtractionEngine, RoundInput, queries_from, query_messages
from reverie.extraction.history import Action, HistoryRecord, history_namespace, history_put
from reverie.extraction.memory_manager import DEFAULT_TOKEN_BUDGET
from reverie.extraction.messages import normalize_messages, render_messages
from reverie.extraction.models import resolve_chat_model
from reverie.extraction.prompts import DEFAULT_INSTRUCTIONS, QUERY_TOOL
from reverie.extraction.schemas import Delete, Insert, Operation, SchemaToolkit, Update
from reverie.extraction.thread_state import ThreadState, context_line, state_namespace
from reverie.extraction.write_guard import awrite_guard, write_guard

DEFAULT_KEY = "default"
PHASE_INSTRUCTIONS = (
    "Review the stored memories: merge duplicates, fix contradictions, keep them concise."
)
_KEY_NAMESPACE = uuid.UUID("6f0b7c52-31a4-4d59-9d0e-5be0c2f0a1d4")


class MemoryPhase(TypedDict, total=False):
    """An extra consolidation pass run after the main extraction."""

    instructions: str
    include_messages: bool
    enable_inserts: bool
    enable_deletes: bool


@dataclass(frozen=True)
class _StoreBatch:
    ops: list[Op]


@dataclass(frozen=True)
class _Expect:
    """What a run read and relies on: the write goes ahead only if the item is still like this."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None  # None: the item must still be absent
    stamp: str | None = None  # updated_at as read; None: compare the value only
    may_vanish: bool = False  # a delete is satisfied if someone else deleted it first

    def holds(self, now: object) -> bool:
        if not isinstance(now, Item):
            return self.value is None or self.may_vanish
        if self.value is None:
            return False
        if self.stamp is not None and _stamp(now.updated_at) != self.stamp:
            return False
        # Also compare values: some backends keep timestamps too coarse to tell two writes apart.
        return now.value == self.value


@dataclass(frozen=True)
class _Commit:
    """Write ``ops`` atomically with checking ``expected``; the driver sends back whether it wrote."""

    expected: list[_Expect]
    ops: list[Op]


@dataclass(frozen=True)
class _ModelRound:
    engine: ExtractionEngine
    round_input: RoundInput


@dataclass(frozen=True)
class _QueryRound:
    lines: list[str]


_Request = _StoreBatch | _Commit | _ModelRound | _QueryRound


@dataclass
class _Entry:
    """A memory in the working set of one round: shown from the store or created in this round."""

    key: str | None
    content: BaseModel
    item: SearchItem | Item | None = None
    deleted: bool = False
    changed: bool = False


class MemoryStoreManager(Runnable[dict[str, Any], list[dict[str, Any]]]):
    """Reads conversations and keeps a namespace of memories up to date."""

    def __init__(
        self,
        model: str | BaseChatModel,
        *,
        schemas: Sequence[type[BaseModel]] | None = None,
        instructions: str = DEFAULT_INSTRUCTIONS,
        default: str | dict[str, Any] | BaseModel | None = None,
        default_factory: Callable[[RunnableConfig], str | dict[str, Any] | BaseModel] | None = None,
        enable_inserts: bool = True,
        enable_deletes: bool = False,
        query_model: str | BaseChatModel | None = None,
        query_limit: int = 5,
        namespace: tuple[str, ...] | NamespaceTemplate = ("memories", "{langgraph_user_id}"),
        store: BaseStore | None = None,
        phases: Sequence[MemoryPhase] | None = None,
        incremental: bool = True,
        context_messages: int = 2,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        history: bool = True,
        max_conflict_retries: int = 2,
    ) -> None:
        if default is not None and default_factory is not None:
            raise ConfigurationError("Pass either default or default_factory, not both.")
        if query_limit < 1:
            raise ConfigurationError(f"query_limit must be at least 1, got {query_limit}.")
        if token_budget < 200:
            raise ConfigurationError(
                f"token_budget must be at least 200 tokens, got {token_budget}."
            )
        self.model = resolve_chat_model(model)
        self.toolkit = SchemaToolkit(
            list(schemas) if schemas else None,
            enable_inserts=enable_inserts,
            enable_updates=True,
            enable_deletes=enable_deletes,
        )
        memory_budget = token_budget // 3
        self.engine = ExtractionEngine(
            self.model, self.toolkit, instructions, memory_budget_tokens=memory_budget
        )
        self.phase_engines: list[tuple[ExtractionEngine, bool]] = []
        for phase in phases or []:
            toolkit = SchemaToolkit(
                list(self.toolkit.schemas.values()),
                enable_inserts=phase.get("enable_inserts", True),
                enable_updates=True,
                enable_deletes=phase.get("enable_deletes", True),
            )
            engine = ExtractionEngine(
                self.model,
                toolkit,
                phase.get("instructions", PHASE_INSTRUCTIONS),
                memory_budget_tokens=memory_budget,
            )
            self.phase_engines.append((engine, phase.get("include_messages", False)))
        self.query_model = (
            resolve_chat_model(query_model, argument="query_model").bind_tools(
                [QUERY_TOOL], tool_choice="any"
            )
            if query_model is not None
            else None
        )
        self.query_limit = query_limit
        self.namespace = NamespaceTemplate(namespace)
        self._store = store
        self._opened_default: BaseStore | None = None
        self._default_store_lock = threading.Lock()
        self.incremental = incremental
        self.context_messages = max(0, context_messages)
        self.token_budget = token_budget
        fixed = self.engine.fixed_tokens
        self.conversation_budget = token_budget - memory_budget - fixed
        if self.conversation_budget < 100:
            raise ConfigurationError(
                f"token_budget={token_budget} leaves no room for the conversation after the "
                f"instructions and tool schemas (~{fixed} tokens); raise it."
            )
        self.keep_history = history
        self.max_conflict_retries = max_conflict_retries
        self.default_factory = default_factory
        if default is not None:
            coerced = self.toolkit.coerce(None, default)
            self.default_factory = lambda _config: coerced

    # ----------------------------------------------------------------- resolution helpers

    @property
    def schemas(self) -> list[type[BaseModel]]:
        return list(self.toolkit.schemas.values())

    @property
    def store(self) -> BaseStore:
        """The store given at creation, else the LangGraph run's, else the persistent default.

        Inside a LangGraph graph or ``@entrypoint(store=...)`` the run's store is used, as
        LangMem does. Called directly, outside any run, the manager opens Reverie's embedded
        default store once (``$REVERIE_STORE`` or ``./.reverie/memories.db``), so memories
        persist with no set-up.
        """
        if self._store is not None:
            return self._store
        from langgraph.config import get_store

        try:
            store = get_store()
        except RuntimeError:  # not inside a LangGraph run
            return self._default_store()
        if store is None:
            raise ConfigurationError(
                "This LangGraph graph has no store: compile it with a store (graph.compile(store=...)"
                " or @entrypoint(store=...)), or pass store=... to create_memory_store_manager."
            )
        return store

    def _default_store(self) -> BaseStore:
        with self._default_store_lock:
            if self._opened_default is None:
                from reverie.stores import open_store

                self._opened_default = open_store()
            return self._opened_default

    def get_namespace(self, config: RunnableConfig | None = None) -> tuple[str, ...]:
        return self.namespace(_checked_config(config) if config is not None else None)

    # ----------------------------------------------------------------- the pipeline

    def _pipeline(
        self, input: Any, config: RunnableConfig | None
    ) -> Generator[_Request, Any, list[dict[str, Any]]]:
        # Called inside a LangGraph run without a config (as LangMem allows), use the run's config:
        # its thread_id drives incremental processing, its user id the namespace.
        config = _checked_config(config) if config is not None else _ambient_config()
        messages = _messages_of(input)
        namespace = self.namespace(config if config is not None else None)
        configurable = (config or {}).get("configurable") or {}
        thread_id = _thread_id(config)
        idempotency = configurable.get("idempotency_key") or (config or {}).get("run_id")

        rendered = render_messages(messages)
        track = self.incremental and thread_id is not None
        state_ns = state_namespace(namespace)
        state, state_value = ThreadState(), None
        if track and thread_id is not None:
            (item,) = yield _StoreBatch([GetOp(state_ns, thread_id)])
            state_value = item.value if item is not None else None
            state = ThreadState.from_value(state_value)
        new, context = state.split(rendered, self.context_messages) if track else (rendered, [])
        if not new and not self.phase_engines:
            return []

        written: list[dict[str, Any]] = []
        chunks = chunk_messages(new, self.conversation_budget) or [[]]
        conflicts = 0
        index = 0
        while index < len(chunks):
            chunk = chunks[index]
            lines = [m.line for m in chunk]
            entries = yield from self._retrieve(namespace, lines, config)
            yield from self._consolidate(entries, context, lines, messages)
            ops, puts = self._plan_writes(
                namespace, entries, thread_id, f"{idempotency}:{index}" if idempotency else None
            )
            expected = _expectations(namespace, entries)
            next_state = state
            if track and thread_id is not None:
                # The thread's progress is written with the memories and checked like them, so two
                # runs handed the same thread at once cannot both consolidate the same messages.
                next_state = copy.deepcopy(state)
                next_state.advance(chunk, self.context_messages)
                ops.append(PutOp(state_ns, thread_id, next_state.to_value(), index=False))
                expected.append(_Expect(state_ns, thread_id, state_value))
            committed = yield _Commit(expected, ops)
            if not committed:
                conflicts += 1
                if conflicts > self.max_conflict_retries:
                    raise ConflictError(
                        f"Memories in {namespace} kept changing while this run consolidated them "
                        f"({conflicts} attempts). Run it again, or route writers for one "
                        "namespace through one ReflectionExecutor."
                    )
                if track and thread_id is not None:
                    # Re-read the thread's progress: another run may have done part of the work.
                    (item,) = yield _StoreBatch([GetOp(state_ns, thread_id)])
                    state_value = item.value if item is not None else None
                    state = ThreadState.from_value(state_value)
                    new, context = state.split(rendered, self.context_messages)
                    if not new:
                        return written
                    chunks = chunk_messages(new, self.conversation_budget) or [[]]
                    index = 0
                continue  # re-read the memories and ask the model again
            written.extend(puts)
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

    def _retrieve(
        self, namespace: tuple[str, ...], lines: list[str], config: RunnableConfig | None
    ) -> Generator[_Request, Any, dict[str, _Entry]]:
        if self.query_model is not None and lines:
            queries = yield _QueryRound(lines)
        else:
            queries = _default_queries(lines)
        found: dict[str, SearchItem] = {}
        if queries:
            results = yield _StoreBatch(
                [SearchOp(namespace, query=q, limit=self.query_limit * 2) for q in queries]
            )
            for items in results:
                for item in items:
                    if tuple(item.namespace) != namespace:
                        continue  # prefix matches from deeper namespaces are someone else's
                    best = found.get(item.key)
                    if best is None or (item.score or 0.0) > (best.score or 0.0):
                        found[item.key] = item
        ranked = sorted(
            found.values(), key=lambda i: i.score if i.score is not None else -1.0, reverse=True
        )
        ranked = ranked[: self.query_limit]
        entries: dict[str, _Entry] = {}
        for item in ranked:
            content = self._content_of(item)
            if content is not None:
                entries[str(len(entries) + 1)] = _Entry(item.key, content, item)
        if not entries and self.default_factory is not None:
            (existing,) = yield _StoreBatch([GetOp(namespace, DEFAULT_KEY)])
            if existing is not None and self._content_of(existing) is not None:
                entries["1"] = _Entry(DEFAULT_KEY, self._content_of(existing), existing)  # type: ignore[arg-type]
            else:
                content = self.toolkit.coerce(None, self.default_factory(config or {}))
                # Only create it if it is still absent: a concurrent run may have made and updated it.
                value = stored_value(content)
                ops: list[Op] = [PutOp(namespace, DEFAULT_KEY, value)]
                if self.keep_history:
                    ops.append(
                        history_put(
                            namespace, DEFAULT_KEY, "insert", None, value, _thread_id(config), None
                        )
                    )
                yield _Commit([_Expect(namespace, DEFAULT_KEY, None)], ops)
                (created,) = yield _StoreBatch([GetOp(namespace, DEFAULT_KEY)])
                stored = self._content_of(created) if created is not None else None
                if created is not None and stored is not None:
                    entries["1"] = _Entry(DEFAULT_KEY, stored, created)
        return entries

    def _content_of(self, item: SearchItem | Item) -> BaseModel | None:
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
        entries: dict[str, _Entry],
        context: list[str],
        lines: list[str],
        messages: list[Any],
    ) -> Generator[_Request, Any, None]:
        if lines:
            shown = [(alias, e.content) for alias, e in entries.items()]
            ops = yield _ModelRound(self.engine, RoundInput(shown, context, lines))
            _apply(entries, ops)
        for engine, include_messages in self.phase_engines:
            shown = [(alias, e.content) for alias, e in entries.items() if not e.deleted]
            if not shown and not include_messages:
                continue
            ops = yield _ModelRound(
                engine,
                RoundInput(
                    shown, context if include_messages else [], lines if include_messages else []
                ),
            )
            _apply(entries, ops)

    def _plan_writes(
        self,
        namespace: tuple[str, ...],
        entries: dict[str, _Entry],
        thread_id: str | None,
        idempotency: str | None,
    ) -> tuple[list[Op], list[dict[str, Any]]]:
        ops: list[Op] = []
        puts: list[dict[str, Any]] = []
        inserted = 0
        for entry in entries.values():
            before = entry.item.value if entry.item is not None else None
            action: Action
            if entry.key is None:
                if entry.deleted:
                    continue
                inserted += 1
                # A retried run (same idempotency key) makes the same keys, so it overwrites.
                entry.key = (
                    str(uuid.uuid5(_KEY_NAMESPACE, f"{idempotency}:{inserted}"))
                    if idempotency
                    else str(uuid.uuid4())
                )
                action = "insert"
            elif entry.deleted:
                action = "delete"
            elif entry.changed:
                action = "update"
            else:
                continue
            after = None if entry.deleted else stored_value(entry.content)
            if after is not None and after == before:
                continue
            ops.append(PutOp(namespace, entry.key, after))
            if after is not None:
                puts.append({"namespace": namespace, "key": entry.key, "value": after})
            if self.keep_history:
                record_key = (
                    str(uuid.uuid5(_KEY_NAMESPACE, f"{idempotency}:{entry.key}:history"))
                    if idempotency
                    else None
                )
                ops.append(
                    history_put(namespace, entry.key, action, before, after, thread_id, record_key)
                )
        return ops, puts

    # ----------------------------------------------------------------- drivers

    def _query_messages(self, lines: list[str]) -> Any:
        return query_messages(lines)

    def _drive(self, gen: Generator[_Request, Any, Any], config: RunnableConfig | None) -> Any:
        """Execute a pipeline's requests synchronously."""
        store = self.store
        try:
            request = next(gen)
            while True:
                if isinstance(request, _StoreBatch):
                    result: Any = store.batch(request.ops)
                elif isinstance(request, _Commit):
                    result = _commit(store, request)
                elif isinstance(request, _ModelRound):
                    result = request.engine.run(request.round_input, config)
                else:
                    assert self.query_model is not None
                    reply = self.query_model.invoke(
                        self._query_messages(request.lines), config=config
                    )
                    result = queries_from(reply)[: self.query_limit] or _default_queries(
                        request.lines
                    )
                request = gen.send(result)
        except StopIteration as done:
            return done.value

    async def _adrive(
        self, gen: Generator[_Request, Any, Any], config: RunnableConfig | None
    ) -> Any:
        """Execute a pipeline's requests asynchronously."""
        store = self.store
        try:
            request = next(gen)
            while True:
                if isinstance(request, _StoreBatch):
                    result: Any = await store.abatch(request.ops)
                elif isinstance(request, _Commit):
                    result = await _acommit(store, request)
                elif isinstance(request, _ModelRound):
                    result = await request.engine.arun(request.round_input, config)
                else:
                    assert self.query_model is not None
                    reply = await self.query_model.ainvoke(
                        self._query_messages(request.lines), config=config
                    )
                    result = queries_from(reply)[: self.query_limit] or _default_queries(
                        request.lines
                    )
                request = gen.send(result)
        except StopIteration as done:
            return done.value

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        return self._drive(self._pipeline(input, config), config)  # type: ignore[no-any-return]

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        return await self._adrive(self._pipeline(input, config), config)  # type: ignore[no-any-return]

    def process(self, messages: Any, config: RunnableConfig | None = None) -> list[dict[str, Any]]:
        """Consolidate ``messages`` into the store (same as ``invoke({"messages": messages})``)."""
        return self.invoke({"messages": messages}, config)

    async def aprocess(
        self, messages: Any, config: RunnableConfig | None = None
    ) -> list[dict[str, Any]]:
        return await self.ainvoke({"messages": messages}, config)

    # ----------------------------------------------------------------- direct store access

    def _value(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict) and set(value) == {"kind", "content"}:
            content = self.toolkit.coerce(str(value["kind"]), value["content"])
        else:
            content = self.toolkit.coerce(None, value)
        return stored_value(content)

    def get(self, key: str, *, config: RunnableConfig | None = None) -> Item | None:
        return self.store.get(self.get_namespace(config), key)

    async def aget(self, key: str, *, config: RunnableConfig | None = None) -> Item | None:
        return await self.store.aget(self.get_namespace(config), key)

    def search(
        self,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        config: RunnableConfig | None = None,
    ) -> list[SearchItem]:
        namespace = self.get_namespace(config)
        items = self.store.search(namespace, query=query, filter=filter, limit=limit, offset=offset)
        return [i for i in items if tuple(i.namespace) == namespace]

    async def asearch(
        self,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        config: RunnableConfig | None = None,
    ) -> list[SearchItem]:
        namespace = self.get_namespace(config)
        items = await self.store.asearch(
            namespace, query=query, filter=filter, limit=limit, offset=offset
        )
        return [i for i in items if tuple(i.namespace) == namespace]

    def _direct_write(
        self, key: str, after: dict[str, Any] | None, config: RunnableConfig | None
    ) -> Generator[_Request, Any, None]:
        """A put or delete by the application, recorded in the audit trail like the model's."""
        config = _checked_config(config)
        namespace = self.namespace(config)
        thread_id = _thread_id(config)
        for _ in range(self.max_conflict_retries + 1):
            (before,) = yield _StoreBatch([GetOp(namespace, key)])
            was = before.value if before is not None else None
            if was == after:
                return  # nothing to change (or nothing to delete)
            action: Action = "insert" if was is None else "delete" if after is None else "update"
            ops: list[Op] = [PutOp(namespace, key, after)]
            if self.keep_history:
                ops.append(history_put(namespace, key, action, was, after, thread_id, None))
            stamp = _stamp(before.updated_at) if before is not None else None
            if (yield _Commit([_Expect(namespace, key, was, stamp, may_vanish=True)], ops)):
                return
        raise ConflictError(
            f"Memory {key!r} in {namespace} kept changing while it was being written; try again."
        )

    def put(self, key: str, value: Any, *, config: RunnableConfig | None = None) -> None:
        self._drive(self._direct_write(key, self._value(value), config), config)

    async def aput(self, key: str, value: Any, *, config: RunnableConfig | None = None) -> None:
        await self._adrive(self._direct_write(key, self._value(value), config), config)

    def delete(self, key: str, *, config: RunnableConfig | None = None) -> None:
        self._drive(self._direct_write(key, None, config), config)

    async def adelete(self, key: str, *, config: RunnableConfig | None = None) -> None:
        await self._adrive(self._direct_write(key, None, config), config)

    def history(
        self,
        key: str | None = None,
        *,
        limit: int | None = 100,
        config: RunnableConfig | None = None,
    ) -> list[HistoryRecord]:
        """The audit trail of this namespace, or of the memory ``key``: its ``limit`` latest
        changes (all with ``limit=None``), oldest first. Each record says what changed (insert,
        update or delete, with the value before and after), when, and from which thread."""
        namespace = history_namespace(self.get_namespace(config))
        records: list[HistoryRecord] = []
        for offset in range(0, 1 << 62, _HISTORY_PAGE):
            page = self.store.search(
                namespace,
                filter={"memory_key": key} if key else None,
                limit=_HISTORY_PAGE,
                offset=offset,
            )
            records.extend(_records(page, namespace))
            if len(page) < _HISTORY_PAGE:
                break
        return _latest(records, limit)

    async def ahistory(
        self,
        key: str | None = None,
        *,
        limit: int | None = 100,
        config: RunnableConfig | None = None,
    ) -> list[HistoryRecord]:
        namespace = history_namespace(self.get_namespace(config))
        records: list[HistoryRecord] = []
        for offset in range(0, 1 << 62, _HISTORY_PAGE):
            page = await self.store.asearch(
                namespace,
                filter={"memory_key": key} if key else None,
                limit=_HISTORY_PAGE,
                offset=offset,
            )
            records.extend(_records(page, namespace))
            if len(page) < _HISTORY_PAGE:
                break
        return _latest(records, limit)


_HISTORY_PAGE = 500


def _records(items: list[SearchItem], namespace: tuple[str, ...]) -> list[HistoryRecord]:
    records = []
    for item in items:
        if tuple(item.namespace) != namespace:
            continue
        try:
            records.append(HistoryRecord.model_validate(item.value))
        except ValueError:
            continue  # not written by Reverie; an audit trail reader must not crash on it
    return records


def _latest(records: list[HistoryRecord], limit: int | None) -> list[HistoryRecord]:
    records.sort(key=lambda r: r.at)
    return records[-limit:] if limit else records


def _thread_id(config: RunnableConfig | None) -> str | None:
    thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
    return str(thread_id) if thread_id is not None else None


def _apply(entries: dict[str, _Entry], ops: list[Operation]) -> None:
    for op in ops:
        if isinstance(op, Insert):
            if any(not e.deleted and e.content == op.content for e in entries.values()):
                continue  # the same memory again (stored, or inserted twice in one reply)
            entries[str(len(entries) + 1)] = _Entry(None, op.content, changed=True)
        elif isinstance(op, Update):
            entry = entries[op.alias]
            entry.content, entry.changed, entry.deleted = op.content, True, False
        elif isinstance(op, Delete):
            entries[op.alias].deleted = True


def _expectations(namespace: tuple[str, ...], entries: dict[str, _Entry]) -> list[_Expect]:
    """An update or delete only lands on the version of the memory the model was shown."""
    return [
        _Expect(
            namespace, e.item.key, e.item.value, _stamp(e.item.updated_at), may_vanish=e.deleted
        )
        for e in entries.values()
        if e.item is not None and (e.changed or e.deleted)
    ]


def _commit(store: BaseStore, commit: _Commit) -> bool:
    if not commit.expected:
        for batch in _write_batches(commit.ops):
            store.batch(batch)
        return True
    with write_guard(store):
        current = store.batch([GetOp(e.namespace, e.key) for e in commit.expected])
        if not all(e.holds(now) for e, now in zip(commit.expected, current, strict=True)):
            return False
        for batch in _write_batches(commit.ops):
            store.batch(batch)
        return True


async def _acommit(store: BaseStore, commit: _Commit) -> bool:
    if not commit.expected:
        for batch in _write_batches(commit.ops):
            await store.abatch(batch)
        return True
    async with awrite_guard(store):
        current = await store.abatch([GetOp(e.namespace, e.key) for e in commit.expected])
        if not all(e.holds(now) for e, now in zip(commit.expected, current, strict=True)):
            return False
        for batch in _write_batches(commit.ops):
            await store.abatch(batch)
        return True


def _write_batches(ops: list[Op]) -> list[list[Op]]:
    """Normally one batch (atomic on stores with transactions). Two memories with the same value
    go in separate batches: LangGraph's InMemoryStore fails a batch that embeds one text twice."""
    batches: list[list[Op]] = []
    current: list[Op] = []
    values: set[str] = set()
    for op in ops:
        if isinstance(op, PutOp) and op.value is not None and op.index is not False:
            fingerprint = json.dumps(op.value, sort_keys=True, default=str)
            if fingerprint in values:
                batches.append(current)
                current, values = [], set()
            values.add(fingerprint)
        current.append(op)
    if current:
        batches.append(current)
    return batches


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _default_queries(lines: list[str]) -> list[str]:
    """One query: the newest part of the exchange (embedders read only the first few hundred tokens)."""
    if not lines:
        return []
    return ["\n".join(lines)[-1500:]]


def _ambient_config() -> RunnableConfig | None:
    from langgraph.config import get_config

    try:
        return _checked_config(get_config())
    except RuntimeError:
        return None


def _checked_config(config: Any) -> RunnableConfig | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            f"config must be a dict like {{'configurable': {{'langgraph_user_id': ...}}}}, "
            f"got {type(config).__name__}."
        )
    configurable = config.get("configurable")
    if configurable is not None and not isinstance(configurable, Mapping):
        raise ConfigurationError(
            f"config['configurable'] must be a dict, got {type(configurable).__name__}. "
            "Pass config={'configurable': {'langgraph_user_id': ..., 'thread_id': ...}}."
        )
    return config  # type: ignore[return-value]


def _messages_of(input: Any) -> list[Any]:
    if isinstance(input, Mapping):
        if "messages" not in input:
            raise InputError(
                f"Input has no 'messages' (keys: {sorted(map(str, input))}). "
                "Pass {'messages': [...]}."
            )
        return normalize_messages(input["messages"]) if input["messages"] else []
    if isinstance(input, (list, tuple)):
        return normalize_messages(list(input)) if input else []
    raise InputError(
        f"Input must be {{'messages': [...]}} or a list of messages, got {type(input).__name__}."
    )


def create_memory_store_manager(
    model: str | BaseChatModel,
    /,
    *,
    schemas: Sequence[type[BaseModel]] | None = None,
    instructions: str = DEFAULT_INSTRUCTIONS,
    default: str | dict[str, Any] | BaseModel | None = None,
    default_factory: Callable[[RunnableConfig], str | dict[str, Any] | BaseModel] | None = None,
    enable_inserts: bool = True,
    enable_deletes: bool = False,
    query_model: str | BaseChatModel | None = None,
    query_limit: int = 5,
    namespace: tuple[str, ...] | NamespaceTemplate = ("memories", "{langgraph_user_id}"),
    store: BaseStore | None = None,
    phases: Sequence[MemoryPhase] | None = None,
    incremental: bool = True,
    context_messages: int = 2,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    history: bool = True,
) -> MemoryStoreManager:
    """Create a manager that keeps memories in a LangGraph store up to date.

    Each call searches ``namespace`` for memories related to the new messages, shows them to the
    model under short ids, and applies the inserts, updates and (if enabled) deletes it asks for.
    Returns the ``{"namespace", "key", "value"}`` of every memory it wrote.

    Beyond LangMem's arguments: ``incremental`` skips messages already consolidated for the same
    ``thread_id``; ``token_budget`` caps each model call's prompt; ``history`` keeps an audit trail.
    """
    return MemoryStoreManager(
        model,
        schemas=schemas,
        instructions=instructions,
        default=default,
        default_factory=default_factory,
        enable_inserts=enable_inserts,
        enable_deletes=enable_deletes,
        query_model=query_model,
        query_limit=query_limit,
        namespace=namespace,
        store=store,
        phases=phases,
        incremental=incremental,
        context_messages=context_messages,
        token_budget=token_budget,
        history=history,
    )


__all__ = [
    "ConflictError",
    "Memory",
    "MemoryPhase",
    "MemoryStoreManager",
    "create_memory_store_manager",
]
