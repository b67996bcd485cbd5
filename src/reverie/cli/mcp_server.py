"""``reverie mcp``: the store as an MCP server over stdio, with four tools on one namespace.

Memories are written as Reverie memories (``{"kind": "Memory", "content": {"content": ...}}``),
the same format the memory managers use. The tools never reach outside the namespace the server
was started with.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langgraph.store.base import BaseStore, IndexConfig, Item
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from reverie.cli.storage import format_namespace, memory_text, opened_store
from reverie.core.dates import as_datetime
from reverie.core.effects import arun
from reverie.core.types import Memory, stored_value
from reverie.ledger import port_for
from reverie.ledger.time_search import TimeQuery, search_in_time
from reverie.ledger.writes import change_memory


def _missing(key: str, namespace: tuple[str, ...]) -> ToolError:
    # ToolError reaches the client as an error result carrying this message.
    return ToolError(
        f"No memory with key {key!r} in {format_namespace(namespace)!r}; nothing was changed. "
        "Use the search tool to find the key."
    )


def _memory(content: str) -> dict[str, Any]:
    if not content.strip():
        raise ToolError("The memory is empty; pass the text to remember as 'content'.")
    return stored_value(Memory(content=content))


def build_server(
    store: BaseStore, namespace: tuple[str, ...], *, descendants: bool = False
) -> MCPServer:
    """An MCP server whose tools remember, search, update and forget memories in ``namespace``.

    Searches see exactly ``namespace``; with ``descendants`` also the namespaces below it (writes
    always go to ``namespace`` itself). Every change is a checked commit recorded in the namespace's audit trail, as the memory
    managers' and the agent tools' changes are.
    """
    where = format_namespace(namespace)
    port = port_for(store)
    server = MCPServer(
        name="reverie",
        instructions=f"Long-term memory. Memories live in namespace '{where}'. Search before "
        "answering questions about the user; remember durable facts and preferences.",
    )

    def existing(key: str) -> Callable[[Item | None], None]:
        def check(item: Item | None) -> None:
            if item is None:
                raise _missing(key, namespace)

        return check

    @server.tool(description="Store a new memory: one self-contained fact or preference.")
    async def remember(content: str) -> dict[str, str]:
        value = _memory(content)
        key = str(uuid.uuid4())
        await arun(change_memory(port, namespace, key, lambda _: value))
        return {"key": key, "namespace": where, "content": content}

    @server.tool(
        description="Find memories by meaning, best match first. as_of (an ISO date such as "
        "2024-03-01, optional): what was true then, including facts since replaced."
    )
    async def search(query: str, limit: int = 5, as_of: str | None = None) -> list[dict[str, Any]]:
        moment = as_datetime(as_of) if as_of else None
        if as_of and moment is None:
            raise ToolError(f"as_of {as_of[:40]!r} is not a date; use e.g. 2024-03-01.")
        items = await arun(
            search_in_time(
                port,
                namespace,
                TimeQuery(as_of=moment),
                query=query,
                limit=max(1, min(limit, 100)),
                descendants=descendants,
            )
        )
        return [
            {
                "key": i.key,
                "content": memory_text(i.value),
                "score": i.score,
                **({"namespace": format_namespace(i.namespace)} if descendants else {}),
            }
            for i in items
        ]

    @server.tool(description="Replace the text of the memory with this key.")
    async def update(key: str, content: str) -> dict[str, str]:
        value = _memory(content)
        must_exist = existing(key)

        def replace(item: Item | None) -> dict[str, Any]:
            must_exist(item)
            return value

        await arun(change_memory(port, namespace, key, replace))
        return {"key": key, "namespace": where, "content": content}

    @server.tool(description="Delete the memory with this key.")
    async def forget(key: str) -> dict[str, str]:
        must_exist = existing(key)

        def delete(item: Item | None) -> None:
            must_exist(item)

        await arun(change_memory(port, namespace, key, delete))
        return {"key": key, "namespace": where, "deleted": "true"}

    return server


def serve(
    target: str | None,
    namespace: tuple[str, ...],
    *,
    index: IndexConfig | None = None,
    descendants: bool = False,
) -> None:
    """Open the store and answer MCP requests on stdin/stdout until the client disconnects."""
    with opened_store(target, index=index) as store:
        build_server(store, namespace, descendants=descendants).run("stdio")
