"""``reverie mcp``: the store as an MCP server over stdio, with four tools on one namespace.

Memories are written as Reverie memories (``{"kind": "Memory", "content": {"content": ...}}``),
the same format the memory managers use. The tools never reach outside the namespace the server
was started with.
"""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.store.base import BaseStore

from reverie.cli.storage import format_namespace, memory_text, opened_store
from reverie.core.types import Memory, stored_value

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef,attr-defined,unused-ignore]
    from mcp.server.fastmcp.exceptions import (  # type: ignore[no-redef,import-not-found,unused-ignore]
        ToolError,
    )


def _missing(key: str, namespace: tuple[str, ...]) -> ToolError:
    # ToolError reaches the client as an error result carrying this message.
    return ToolError(
        f"No memory with key {key!r} in {format_namespace(namespace)!r}; nothing was changed. "
        "Use the search tool to find the key."
    )


def build_server(store: BaseStore, namespace: tuple[str, ...]) -> Any:
    """An MCP server whose tools remember, search, update and forget memories in ``namespace``."""
    where = format_namespace(namespace)
    server = _Server(
        name="reverie",
        instructions=f"Long-term memory. Memories live in namespace '{where}'. Search before "
        "answering questions about the user; remember durable facts and preferences.",
    )

    @server.tool(description="Store a new memory: one self-contained fact or preference.")
    async def remember(content: str) -> dict[str, str]:
        if not content.strip():
            raise ToolError("The memory is empty; pass the text to remember as 'content'.")
        key = str(uuid.uuid4())
        store.put(namespace, key, stored_value(Memory(content=content)))
        return {"key": key, "namespace": where, "content": content}

    @server.tool(description="Find memories by meaning, best match first.")
    async def search(query: str, limit: int = 5) -> list[dict[str, Any]]:
        items = store.search(namespace, query=query, limit=max(1, min(limit, 100)))
        return [{"key": i.key, "content": memory_text(i.value), "score": i.score} for i in items]

    @server.tool(description="Replace the text of the memory with this key.")
    async def update(key: str, content: str) -> dict[str, str]:
        if store.get(namespace, key) is None:
            raise _missing(key, namespace)
        store.put(namespace, key, stored_value(Memory(content=content)))
        return {"key": key, "namespace": where, "content": content}

    @server.tool(description="Delete the memory with this key.")
    async def forget(key: str) -> dict[str, str]:
        if store.get(namespace, key) is None:
            raise _missing(key, namespace)
        store.delete(namespace, key)
        return {"key": key, "namespace": where, "deleted": "true"}

    return server


def serve(
    target: str | None, namespace: tuple[str, ...], *, index: dict[str, Any] | None = None
) -> None:
    """Open the store and answer MCP requests on stdin/stdout until the client disconnects."""
    with opened_store(target, index=index) as store:
        build_server(store, namespace).run("stdio")
