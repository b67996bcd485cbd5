"""``create_memory_store_manager``: search, consolidate and write memories in a LangGraph store.

The work of a call is one pipeline (``consolidation``); ``invoke`` and ``ainvoke`` drive the
same pipeline blocking or awaiting, so they share every decision. All writes go through the
store's storage port (``reverie.ledger.port_for``): one atomic, checked commit per chunk.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.store.base import BaseStore
from pydantic import BaseModel

from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import ConfigurationError, ConflictError
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.core.namespace import NamespaceTemplate
from reverie.core.ports import MemoryStorePort
from reverie.core.types import Memory
from reverie.extraction.accounting import accounted_run
from reverie.extraction.consolidation import Consolidation, bind_query_model
from reverie.extraction.engine import ExtractionEngine
from reverie.extraction.memory_manager import DEFAULT_TOKEN_BUDGET
from reverie.extraction.mode_policy import ExtractionMode, ModePolicy, OnUnusableReply
from reverie.extraction.models import resolve_chat_model
from reverie.extraction.phases import MemoryPhase, phase_engines
from reverie.extraction.prompts import DEFAULT_INSTRUCTIONS, QUERY_TOOL
from reverie.extraction.report import ReportedList, RunReport, reported
from reverie.extraction.run_config import checked_config, messages_of, run_config
from reverie.extraction.schemas import SchemaToolkit
from reverie.extraction.store_items import StoreItemsMixin
from reverie.extraction.usage_queries import UsageQueriesMixin
from reverie.ledger import port_for
from reverie.ledger.history import HistoryRecord, read_history


class MemoryStoreManager(
    StoreItemsMixin, UsageQueriesMixin, Runnable[dict[str, Any], list[dict[str, Any]]]
):
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
        usage: bool = True,
        max_conflict_retries: int = 2,
        extraction_mode: ExtractionMode = "auto",
        on_unusable_reply: OnUnusableReply = "warn",
        supersede: bool = True,
        limits: Limits | None = None,
    ) -> None:
        if default is not None and default_factory is not None:
            raise ConfigurationError("Pass either default or default_factory, not both.")
        if query_limit < 1:
            raise ConfigurationError(f"query_limit must be at least 1, got {query_limit}.")
        if token_budget < 200:
            raise ConfigurationError(
                f"token_budget must be at least 200 tokens, got {token_budget}."
            )
        if store is not None and not isinstance(store, BaseStore):
            raise ConfigurationError(
                f"store must be a LangGraph BaseStore, got {type(store).__name__}."
            )
        self.model = resolve_chat_model(model)
        self.limits = limits or DEFAULT_LIMITS
        self.toolkit = SchemaToolkit(
            list(schemas) if schemas else None,
            enable_inserts=enable_inserts,
            enable_updates=True,
            enable_deletes=enable_deletes,
            limits=self.limits,
        )
        memory_budget = token_budget // 3
        # Shared by the main round and the phases: a mode that fails is given up for all.
        policy = ModePolicy(self.model, extraction_mode, on_unusable_reply)
        engine = ExtractionEngine(
            self.model,
            self.toolkit,
            instructions,
            memory_budget_tokens=memory_budget,
            policy=policy,
        )
        conversation_budget = token_budget - memory_budget - engine.fixed_tokens
        if conversation_budget < 100:
            raise ConfigurationError(
                f"token_budget={token_budget} leaves no room for the conversation after the "
                f"instructions and tool schemas (~{engine.fixed_tokens} tokens); raise it."
            )
        if default is not None:
            coerced = self.toolkit.coerce(None, default)
            default_factory = lambda _config: coerced  # noqa: E731
        self.namespace = NamespaceTemplate(namespace, limits=self.limits)
        self.consolidation = Consolidation(
            toolkit=self.toolkit,
            engine=engine,
            phase_engines=phase_engines(
                self.model, self.toolkit, phases, memory_budget_tokens=memory_budget, policy=policy
            ),
            query_model=(
                bind_query_model(
                    resolve_chat_model(query_model, argument="query_model"), QUERY_TOOL
                )
                if query_model is not None
                else None
            ),
            query_limit=query_limit,
            default_factory=default_factory,
            history=history,
            max_conflict_retries=max_conflict_retries,
            incremental=incremental,
            context_messages=max(0, context_messages),
            conversation_budget=conversation_budget,
            supersede=supersede,
            limits=self.limits,
        )
        self.token_budget = token_budget
        self.keeps_usage = usage
        self.explicit_store = store
        self._opened_default: BaseStore | None = None
        self._default_store_lock = threading.Lock()

    # ----------------------------------------------------------------- resolution

    @property
    def engine(self) -> ExtractionEngine:
        return self.consolidation.engine

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
        if self.explicit_store is not None:
            return self.explicit_store
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

    def with_store(self, store: BaseStore) -> MemoryStoreManager:
        """This manager (same model, schemas and settings) with ``store`` as its store."""
        bound = copy.copy(self)
        bound.explicit_store = store
        return bound

    def _default_store(self) -> BaseStore:
        with self._default_store_lock:
            if self._opened_default is None:
                from reverie.stores import open_store

                self._opened_default = open_store()
            return self._opened_default

    @property
    def port(self) -> MemoryStorePort:
        """The storage port every read and write of this manager goes through."""
        return port_for(self.store)

    def get_namespace(self, config: RunnableConfig | None = None) -> tuple[str, ...]:
        return self.namespace(checked_config(config) if config is not None else None)

    # ----------------------------------------------------------------- consolidation

    def _pipeline(self, input: Any, config: Any) -> Pipeline[ReportedList[dict[str, Any]]]:
        # Called inside a LangGraph run without a config (as LangMem allows), use the run's
        # config: its thread_id drives incremental processing, its user id the namespace.
        config = run_config(config)
        messages = messages_of(input)
        namespace = self.namespace(config)
        report = RunReport()
        written = yield from accounted_run(
            self.consolidation,
            self.port,
            namespace,
            messages,
            config,
            report,
            usage=self.keeps_usage,
        )
        return reported(written, report)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ReportedList[dict[str, Any]]:
        return run(self._pipeline(input, config))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ReportedList[dict[str, Any]]:
        return await arun(self._pipeline(input, config))

    def process(self, messages: Any, config: RunnableConfig | None = None) -> list[dict[str, Any]]:
        """Consolidate ``messages`` into the store (same as ``invoke({"messages": messages})``)."""
        return self.invoke({"messages": messages}, config)

    async def aprocess(
        self, messages: Any, config: RunnableConfig | None = None
    ) -> list[dict[str, Any]]:
        return await self.ainvoke({"messages": messages}, config)

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
        return run(read_history(self.port, self.get_namespace(config), key, limit))

    async def ahistory(
        self,
        key: str | None = None,
        *,
        limit: int | None = 100,
        config: RunnableConfig | None = None,
    ) -> list[HistoryRecord]:
        return await arun(read_history(self.port, self.get_namespace(config), key, limit))


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
    usage: bool = True,
    extraction_mode: ExtractionMode = "auto",
    on_unusable_reply: OnUnusableReply = "warn",
    supersede: bool = True,
    limits: Limits | None = None,
) -> MemoryStoreManager:
    """Create a manager that keeps memories in a LangGraph store up to date.

    Each call searches ``namespace`` for memories related to the new messages, shows them to the
    model under short ids, and applies the inserts, updates and (if enabled) deletes it asks for.
    Returns the ``{"namespace", "key", "value"}`` of every memory it wrote.

    Beyond LangMem's arguments: ``incremental`` skips messages already consolidated for the same
    ``thread_id``; ``token_budget`` caps each model call's prompt; ``history`` keeps an audit trail;
    ``usage`` records each run's calls, tokens, timings and changes with its memories and traces
    it (``manager.runs()``, ``manager.usage()``; docs/observability.md); ``extraction_mode`` and
    ``on_unusable_reply``: see docs/models/README.md. The returned list's ``.report`` (a
    ``RunReport``) says which mode was used, what the run cost and why nothing was stored.
    ``supersede`` (default) keeps every version of a changed memory with when it was true, so
    the past can be searched (``search(..., as_of=...)``); ``supersede=False`` overwrites, as
    LangMem does. Pass ``config["configurable"]["reference_time"]`` for when a conversation
    happened, if its messages do not carry their own times. ``limits``
    (``reverie.core.limits.Limits``) bounds what is stored: memory size, namespace labels (user
    ids), thread ids, searches.
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
        usage=usage,
        extraction_mode=extraction_mode,
        on_unusable_reply=on_unusable_reply,
        supersede=supersede,
        limits=limits,
    )


__all__ = [
    "ConflictError",
    "Memory",
    "MemoryPhase",
    "MemoryStoreManager",
    "create_memory_store_manager",
]
