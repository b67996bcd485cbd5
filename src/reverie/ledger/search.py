"""The one namespace-scoped search behind every reader: the manager, the search tool, the
executors' ``search``, the CLI and the MCP server.

It searches exactly the namespace it is given; memories in namespaces below it (another
tenant's ``("memories", "alice", "team")`` under ``("memories", "alice")``) are included only
when the caller asks for ``descendants`` by name. Reverie's bookkeeping namespaces are never
returned by a search of user namespaces.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import SearchItem

from reverie.core.effects import Pipeline, Search
from reverie.core.namespace import RESERVED_ROOT
from reverie.core.ports import MemoryStorePort, NamespaceSearch


def search_memories(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    *,
    query: str | None = None,
    filter: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    descendants: bool = False,
    refresh_ttl: bool | None = None,
) -> Pipeline[list[SearchItem]]:
    """Memories of ``namespace`` (and, with ``descendants``, of every namespace below it);
    ``refresh_ttl`` as LangGraph's (None: the store's default)."""
    request = NamespaceSearch(
        tuple(namespace),
        query=query,
        filter=filter,
        limit=limit,
        offset=offset,
        descendants=descendants,
        refresh_ttl=refresh_ttl,
    )
    items = yield from Search(port, request)
    if descendants and (not namespace or namespace[0] != RESERVED_ROOT):
        # A search from the root would otherwise reach every user's audit trail.
        items = [i for i in items if not i.namespace or i.namespace[0] != RESERVED_ROOT]
    return items
