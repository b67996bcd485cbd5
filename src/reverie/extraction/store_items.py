"""A memory store manager's direct store operations, with LangMem's signatures:
``put(key, value, index=None, *, ttl=..., config=None)``, ``get``/``search`` with
``refresh_ttl``, ``delete(key, config=None)`` and their async twins.

Each is one pipeline driven by ``run`` or ``arun``; writes go through ``change_memory`` (checked
against concurrent writers, recorded in the audit trail). Values come back as stored.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import NOT_PROVIDED, BaseStore, GetOp, Item, NotProvided, SearchItem

from reverie.core.effects import Pipeline, StoreBatch, arun, run
from reverie.core.errors import ConfigurationError, InputError, UnstorableValueError
from reverie.core.limits import check_key, check_value_size
from reverie.core.namespace import NamespaceTemplate
from reverie.core.ports import MemoryStorePort
from reverie.core.text import quoted
from reverie.core.types import stored_value
from reverie.core.values import normalised_value
from reverie.extraction.consolidation import DEFAULT_KEY, Consolidation
from reverie.extraction.event_time import reference_time
from reverie.extraction.run_config import checked_config, run_config, thread_id_of
from reverie.extraction.schemas import SchemaToolkit
from reverie.ledger.retention import refreshes_records, store_default_ttl
from reverie.ledger.search import SearchOptions
from reverie.ledger.time_search import TimeQuery, Version, memory_timeline, search_in_time
from reverie.ledger.timeline import Moment, time_namespace
from reverie.ledger.writes import change_memory
from reverie.retrieval.rerank import Reranker

IndexFields = Literal[False] | list[str] | None


class StoreItemsMixin:
    """get / search / put / delete on the manager's namespace; mixed into MemoryStoreManager."""

    # Provided by the manager.
    toolkit: SchemaToolkit
    consolidation: Consolidation
    namespace: NamespaceTemplate

    @property
    def store(self) -> BaseStore:
        raise NotImplementedError

    @property
    def port(self) -> MemoryStorePort:
        raise NotImplementedError

    def get_namespace(self, config: RunnableConfig | None = None) -> tuple[str, ...]:
        raise NotImplementedError

    def _value(self, value: Any) -> dict[str, Any]:
        """A value of one of the schemas is stored as the manager stores memories; any other
        dict is stored as given, as LangMem's ``put`` does; both after the value policy and the
        size limit (``reverie.core.values``, ``reverie.core.limits``)."""
        stored = self._as_stored(value)
        check_value_size(stored, self.toolkit.limits)
        return stored

    def _as_stored(self, value: Any) -> dict[str, Any]:
        try:
            if isinstance(value, dict) and set(value) == {"kind", "content"}:
                return stored_value(self.toolkit.coerce(str(value["kind"]), value["content"]))
            return stored_value(self.toolkit.coerce(None, value))
        except UnstorableValueError:
            raise
        except (ConfigurationError, ValueError):
            if isinstance(value, dict):
                return dict(normalised_value(value))
            raise InputError(
                f"Cannot store {quoted(value, 100)}: pass a dict, a string or one of the schemas "
                f"{list(self.toolkit.schemas)}."
            ) from None

    @staticmethod
    def _moment(config: RunnableConfig | None) -> Moment:
        """An application's own put or delete happens now (or at the run's reference time)."""
        now = datetime.now(timezone.utc)
        return Moment(reference_time(config) or now, now, thread_id_of(config))

    def _ttl(self, ttl: float | None | NotProvided) -> float | None:
        store = self.store
        if isinstance(ttl, NotProvided):
            return store_default_ttl(store)
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
            raise ConfigurationError(
                f"ttl is in minutes and must be positive (or None), got {ttl!r}."
            )
        if not store.supports_ttl:
            raise ConfigurationError(
                f"{type(store).__name__} does not expire items, so ttl={ttl} would be ignored. Use "
                "Reverie's embedded or PostgreSQL store (reverie.stores.open_store), or leave ttl out."
            )
        return float(ttl)

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        return bool((self.store.ttl_config or {}).get("refresh_on_read", True))

    def _default(self, config: RunnableConfig | None) -> dict[str, Any] | None:
        """The namespace's default memory as it would be created (not stored), if there is one."""
        factory = self.consolidation.default_factory
        if factory is None:
            return None
        return stored_value(self.toolkit.coerce(None, factory(run_config(config) or {})))

    def _get(
        self, key: str, refresh_ttl: bool | None, config: RunnableConfig | None
    ) -> Pipeline[Item | None]:
        namespace = self.get_namespace(config)
        reads = [GetOp(namespace, key, refresh_ttl=self._refresh(refresh_ttl))]
        if refreshes_records(self.port, refresh_ttl):  # its time record lives as long as it
            reads.append(GetOp(time_namespace(namespace), key, refresh_ttl=True))
        item, *_ = yield from StoreBatch(self.port, reads)
        if isinstance(item, Item):
            return item
        default = self._default(config) if key == DEFAULT_KEY else None
        if default is None:
            return None
        now = datetime.now(timezone.utc)
        return Item(value=default, key=key, namespace=namespace, created_at=now, updated_at=now)

    def get(
        self,
        key: str,
        *,
        refresh_ttl: bool | None = None,
        config: RunnableConfig | None = None,
    ) -> Item | None:
        """Memory ``key`` of this manager's namespace; the ``"default"`` memory, while not yet
        stored, as the default would be created."""
        return run(self._get(key, refresh_ttl, config))

    async def aget(
        self,
        key: str,
        *,
        refresh_ttl: bool | None = None,
        config: RunnableConfig | None = None,
    ) -> Item | None:
        return await arun(self._get(key, refresh_ttl, config))

    def _search(
        self,
        query: str | None,
        filter: dict[str, Any] | None,
        limit: int,
        offset: int,
        refresh_ttl: bool | None,
        config: RunnableConfig | None,
        descendants: bool,
        when: TimeQuery,
        options: SearchOptions,
    ) -> Pipeline[list[SearchItem]]:
        namespace = self.get_namespace(config)
        items = yield from search_in_time(
            self.port,
            namespace,
            when,
            query=query,
            filter=filter,
            limit=limit,
            offset=offset,
            descendants=descendants,
            refresh_ttl=refresh_ttl,
            options=options,
        )
        default = self._default(config) if not items and offset == 0 and when.plain else None
        if default is None:
            return items
        now = datetime.now(timezone.utc)
        return [SearchItem(namespace, DEFAULT_KEY, default, now, now)]

    def search(
        self,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
        config: RunnableConfig | None = None,
        descendants: bool = False,
        as_of: datetime | None = None,
        event_after: datetime | None = None,
        event_before: datetime | None = None,
        recency_weight: float = 0.0,
        min_score: float | None = None,
        rerank: Reranker | None = None,
        diversity: float = 0.0,
    ) -> list[SearchItem]:
        """Memories of this manager's namespace (``descendants=True``: and those below it).
        With a default and nothing stored yet, the default as it would be created.

        ``as_of``: the memories as they were at that moment (versions since replaced or deleted
        included, later ones left out); ``event_after`` / ``event_before``: only memories learnt
        from events in that range; ``recency_weight`` (0-1): prefer newer facts (see
        ``reverie.ledger.time_search.TimeQuery``). ``min_score``: leave out memories whose
        cosine similarity to the query is lower; ``rerank``: a ``reverie.retrieval.rerank``
        reranker for the best candidates; ``diversity`` (0-1): spread near-duplicates apart.
        """
        when = TimeQuery(as_of, event_after, event_before, recency_weight)
        options = SearchOptions(min_score=min_score, diversity=diversity, rerank=rerank)
        return run(
            self._search(
                query, filter, limit, offset, refresh_ttl, config, descendants, when, options
            )
        )

    async def asearch(
        self,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
        config: RunnableConfig | None = None,
        descendants: bool = False,
        as_of: datetime | None = None,
        event_after: datetime | None = None,
        event_before: datetime | None = None,
        recency_weight: float = 0.0,
        min_score: float | None = None,
        rerank: Reranker | None = None,
        diversity: float = 0.0,
    ) -> list[SearchItem]:
        when = TimeQuery(as_of, event_after, event_before, recency_weight)
        options = SearchOptions(min_score=min_score, diversity=diversity, rerank=rerank)
        return await arun(
            self._search(
                query, filter, limit, offset, refresh_ttl, config, descendants, when, options
            )
        )

    def timeline(self, key: str, *, config: RunnableConfig | None = None) -> list[Version]:
        """Every version of memory ``key``, oldest first, with when each was true."""
        return run(memory_timeline(self.port, self.get_namespace(config), key))

    async def atimeline(self, key: str, *, config: RunnableConfig | None = None) -> list[Version]:
        return await arun(memory_timeline(self.port, self.get_namespace(config), key))

    def _write(
        self,
        key: str,
        after: dict[str, Any] | None,
        config: RunnableConfig | None,
        index: IndexFields = None,
        ttl: float | None = None,
    ) -> Pipeline[None]:
        """A put or delete by the application, recorded in the audit trail like the model's."""
        config = checked_config(config)
        if not (
            index is None
            or index is False
            or (isinstance(index, list) and all(isinstance(f, str) for f in index))
        ):
            raise ConfigurationError(
                f"index must be None (the store's fields), False (not indexed) or a list of "
                f"field paths, got {index!r}."
            )
        if after is not None:  # a memory's key keeps room for its past versions' keys
            check_key(key, self.toolkit.limits, "memory key", memory=True)
        yield from change_memory(
            self.port,
            self.namespace(config),
            key,
            lambda _before: after,
            thread_id=thread_id_of(config),
            history=self.consolidation.history,
            retries=self.consolidation.max_conflict_retries,
            index=index,
            ttl=ttl,
            moment=self._moment(config) if self.consolidation.supersede else None,
        )

    def put(
        self,
        key: str,
        value: Any,
        index: IndexFields = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
        config: RunnableConfig | None = None,
    ) -> None:
        """Store ``value`` as memory ``key`` (a schema value as the manager stores memories, any
        other dict as given). ``index`` and ``ttl`` (minutes) as in LangGraph's ``put``."""
        run(self._write(key, self._value(value), config, index, self._ttl(ttl)))

    async def aput(
        self,
        key: str,
        value: Any,
        index: IndexFields = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
        config: RunnableConfig | None = None,
    ) -> None:
        await arun(self._write(key, self._value(value), config, index, self._ttl(ttl)))

    def delete(self, key: str, config: RunnableConfig | None = None) -> None:
        run(self._write(key, None, config))

    async def adelete(self, key: str, config: RunnableConfig | None = None) -> None:
        await arun(self._write(key, None, config))
