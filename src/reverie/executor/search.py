"""``executor.search(...)``: read the memories a reflector writes, from the store it writes them to.

Like every reader in Reverie it searches exactly one namespace (the manager's, filled from
``config``, or the one passed); namespaces below it only with ``descendants=True``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import ConfigurationError
from reverie.executor.invoke import Reflector
from reverie.extraction.store_manager import MemoryStoreManager
from reverie.ledger import port_for
from reverie.ledger.search import SearchOptions, search_memories


def resolve_namespace(
    reflector: Reflector, namespace: str | tuple[str, ...] | None, config: RunnableConfig | None
) -> tuple[str, ...]:
    if namespace is not None:
        return (namespace,) if isinstance(namespace, str) else tuple(namespace)
    if isinstance(reflector, MemoryStoreManager):
        return reflector.get_namespace(config)
    raise ConfigurationError("This reflector has no namespace; pass namespace=(...) to search().")


def resolve_store(own: BaseStore | None, reflector: Reflector) -> BaseStore:
    if own is not None:
        return own
    if isinstance(reflector, MemoryStoreManager):
        try:
            return reflector.store
        except ConfigurationError:
            pass
    raise ConfigurationError(
        "No store to search: pass store=... to the executor or to the memory manager."
    )


class MemorySearch(ABC):
    """LangMem-compatible search pass-through: results are ``Item.dict()`` dictionaries.
    ``options`` (a :class:`~reverie.ledger.search.SearchOptions`) set ``min_score``,
    ``diversity``, ``rerank`` and ``ranking`` as for ``search_memories``."""

    store: BaseStore | None

    @property
    @abstractmethod
    def reflector(self) -> Reflector:
        """The manager (or function) whose memories are searched."""

    def _search(
        self,
        query: str | None,
        filter: dict[str, Any] | None,
        limit: int,
        offset: int,
        namespace: str | tuple[str, ...] | None,
        config: RunnableConfig | None,
        descendants: bool,
        options: SearchOptions | None,
    ) -> Pipeline[list[dict[str, Any]]]:
        items = yield from search_memories(
            port_for(resolve_store(self.store, self.reflector)),
            resolve_namespace(self.reflector, namespace, config),
            query=query,
            filter=filter,
            limit=limit,
            offset=offset,
            descendants=descendants,
            options=options,
        )
        return [item.dict() for item in items]

    def search(
        self,
        query: str | None = None,
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        namespace: str | tuple[str, ...] | None = None,
        config: RunnableConfig | None = None,
        descendants: bool = False,
        options: SearchOptions | None = None,
    ) -> list[dict[str, Any]]:
        return run(
            self._search(query, filter, limit, offset, namespace, config, descendants, options)
        )

    async def asearch(
        self,
        query: str | None = None,
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        namespace: str | tuple[str, ...] | None = None,
        config: RunnableConfig | None = None,
        descendants: bool = False,
        options: SearchOptions | None = None,
    ) -> list[dict[str, Any]]:
        return await arun(
            self._search(query, filter, limit, offset, namespace, config, descendants, options)
        )
