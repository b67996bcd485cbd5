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

from reverie.cli.naming import format_namespace, memory_text
from reverie.cli.storage import opened_store
from reverie.core.dates import as_datetime
from reverie.core.effects import arun
from reverie.core.empty import is_empty
from reverie.core.errors import ConfigurationError, InputError, LimitError
from reverie.core.limits import DEFAULT_LIMITS, Limits, check_key, check_value_size
from reverie.core.requests import checked_search_args
from reverie.core.text import clean_text, quoted
from reverie.core.types import Memory, stored_value
from reverie.ledger import port_for
from reverie.ledger.search import SearchOptions
from reverie.ledger.time_search import TimeQuery, search_in_time
from reverie.ledger.writes import change_memory


def _missing(key: str, namespace: tuple[str, ...]) -> ToolError:
    # ToolError reaches the client as an error result carrying this message.
    return ToolError(
        f"No memory with key {quoted(key)} in {format_namespace(namespace)!r}; nothing was "
        "changed. Use the search tool to find the key."
    )


def _memory(content: str, limits: Limits) -> dict[str, Any]:
    """The stored value for ``content``: normalised text, refused when empty or too large (for
    ``remember`` and ``update`` alike)."""
    text = clean_text(content)
    if is_empty(text):
        raise ToolError("The memory is empty; pass the text to remember as 'content'.")
    value = stored_value(Memory(content=text))
    try:
        check_value_size(value, limits)
    except LimitError as exc:
        raise ToolError(str(exc)) from None
    return value


def _key(key: str, namespace: tuple[str, ...], limits: Limits) -> str:
    try:
        return check_key(key, limits, memory=True)
    except InputError:
        raise _missing(key, namespace) from None  # no such key was ever stored


def build_server(
    store: BaseStore,
    namespace: tuple[str, ...],
    *,
    descendants: bool = False,
    limits: Limits | None = None,
    min_score: float | None = None,
    diversity: float = 0.0,
    options: SearchOptions | None = None,
) -> MCPServer:
    """An MCP server whose tools remember, search, update and forget memories in ``namespace``.

    Searches see exactly ``namespace``; with ``descendants`` also the namespaces below it (writes
    always go to ``namespace`` itself). Every change is a checked commit recorded in the
    namespace's audit trail, as the memory managers' and the agent tools' changes are. Input over
    ``limits`` (a memory too large, a query too long) is refused as a tool error at once.

    ``min_score`` (-1 to 1): searches leave out memories whose cosine similarity to the query is
    lower; ``diversity`` (0 to 1, 0: off) spreads near-duplicates apart (see
    :class:`~reverie.ledger.search.SearchOptions`). They are the server's settings, not the
    client's. Out of range they raise ``InputError`` here, before the server exists.

    ``options``: every search setting at once, a reranker and ranking weights included
    (:class:`~reverie.ledger.search.SearchOptions`), instead of ``min_score`` and ``diversity``;
    giving both raises ``InputError``. A search ``as_of`` a past date applies ``min_score`` and
    the reranker only.
    """
    if options is None:
        options = SearchOptions(min_score=min_score, diversity=diversity)
    elif min_score is not None or diversity:
        raise InputError(
            "build_server takes min_score and diversity either as keywords or inside options, "
            "not both; put them in SearchOptions(...). No server was created."
        )
    limits = limits or DEFAULT_LIMITS
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
        value = _memory(content, limits)
        key = str(uuid.uuid4())
        await arun(change_memory(port, namespace, key, lambda _: value))
        return {"key": key, "namespace": where, "content": memory_text(value)}

    @server.tool(
        description="Find memories by meaning, best match first. as_of (an ISO date such as "
        "2024-03-01, optional): what was true then, including facts since replaced."
    )
    async def search(query: str, limit: int = 5, as_of: str | None = None) -> list[dict[str, Any]]:
        moment = as_datetime(as_of) if as_of else None
        if as_of and moment is None:
            raise ToolError(f"as_of {as_of[:40]!r} is not a date; use e.g. 2024-03-01.")
        try:
            checked_query, _, checked_limit, _ = checked_search_args(
                query, None, max(1, min(limit, 100)), 0, limits
            )
            items = await arun(
                search_in_time(
                    port,
                    namespace,
                    TimeQuery(as_of=moment),
                    query=checked_query,
                    limit=checked_limit,
                    descendants=descendants,
                    options=options,
                )
            )
        except ConfigurationError:
            raise
        except InputError as exc:
            raise ToolError(str(exc)) from None
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
        key = _key(key, namespace, limits)
        value = _memory(content, limits)
        must_exist = existing(key)

        def replace(item: Item | None) -> dict[str, Any]:
            must_exist(item)
            return value

        await arun(change_memory(port, namespace, key, replace))
        return {"key": key, "namespace": where, "content": memory_text(value)}

    @server.tool(description="Delete the memory with this key.")
    async def forget(key: str) -> dict[str, str]:
        key = _key(key, namespace, limits)
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
    limits: Limits | None = None,
    min_score: float | None = None,
    diversity: float = 0.0,
) -> None:
    """Open the store and answer MCP requests on stdin/stdout until the client disconnects
    (``min_score`` and ``diversity``: see :func:`build_server`)."""
    SearchOptions(min_score=min_score, diversity=diversity)  # refused before a store is created
    with opened_store(target, index=index, limits=limits) as store:
        server = build_server(
            store,
            namespace,
            descendants=descendants,
            limits=limits,
            min_score=min_score,
            diversity=diversity,
        )
        server.run("stdio")
