"""``executor.search(...)``: read the memories a reflector writes, from the store it writes them to."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError
from reverie.core.namespace import NamespaceTemplate


def resolve_namespace(
    reflector: Any, namespace: str | tuple[str, ...] | None, config: RunnableConfig | None
) -> tuple[str, ...]:
    if namespace is not None:
        return (namespace,) if isinstance(namespace, str) else tuple(namespace)
    template = getattr(reflector, "namespace", None)
    if template is None:
        raise ConfigurationError(
            "This reflector has no namespace; pass namespace=(...) to search()."
        )
    return NamespaceTemplate(template)(config)


def resolve_store(own: BaseStore | None, reflector: Any) -> BaseStore:
    if own is not None:
        return own
    store = getattr(reflector, "_store", None)
    if store is None:
        try:
            store = getattr(reflector, "store", None)
        except ConfigurationError:
            store = None
    if isinstance(store, BaseStore):
        return store
    raise ConfigurationError(
        "No store to search: pass store=... to the executor or to the memory manager."
    )


class MemorySearch:
    """LangMem-compatible search pass-through: results are ``Item.dict()`` dictionaries."""

    _reflector: Any
    _store: BaseStore | None

    def search(
        self,
        query: str | None = None,
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        namespace: str | tuple[str, ...] | None = None,
        config: RunnableConfig | None = None,
    ) -> list[dict[str, Any]]:
        ns = resolve_namespace(self._reflector, namespace, config)
        store = resolve_store(self._store, self._reflector)
        items = store.search(ns, query=query, filter=filter, limit=limit, offset=offset)
        return [item.dict() for item in items]

    async def asearch(
        self,
        query: str | None = None,
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        namespace: str | tuple[str, ...] | None = None,
        config: RunnableConfig | None = None,
    ) -> list[dict[str, Any]]:
        ns = resolve_namespace(self._reflector, namespace, config)
        store = resolve_store(self._store, self._reflector)
        items = await store.asearch(ns, query=query, filter=filter, limit=limit, offset=offset)
        return [item.dict() for item in items]
