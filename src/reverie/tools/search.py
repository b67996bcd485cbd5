"""``search_memory``: a tool an agent calls to look up its memories by meaning.

Results are the store's items as JSON (namespace, key, value, timestamps, score), the same shape
LangMem's tool returns, whichever writer (this tool or a memory manager) stored them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool, ToolException
from langgraph.store.base import BaseStore, SearchItem
from pydantic import BaseModel, ConfigDict, Field

from reverie.core.dates import as_datetime
from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import ConfigurationError, InputError
from reverie.core.filters import OPERATORS
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.core.namespace import NamespaceTemplate
from reverie.core.requests import checked_search_args
from reverie.ledger import port_for
from reverie.ledger.search import SearchOptions
from reverie.ledger.time_search import TimeQuery, search_in_time
from reverie.tools._runtime import NestingBoundTool, resolve_store

ResponseFormat = Literal["content", "content_and_artifact"]


class SearchMemoryArgs(BaseModel):
    model_config = ConfigDict(json_schema_extra=lambda s: s.setdefault("required", ["query"]))

    query: str = Field(description="What to look for, in plain words.")
    limit: int = Field(default=10, ge=1, le=100, description="Most results to return.")
    offset: int = Field(default=0, ge=0, description="Results to skip, for paging.")
    filter: dict[str, Any] | None = Field(
        default=None,
        description="Conditions on the stored value's fields, all of which must hold: "
        "field: value, or field: {op: value} with op one of " + ", ".join(OPERATORS) + ".",
    )
    as_of: str | None = Field(
        default=None,
        description="A past date (ISO, e.g. 2024-03-01) to see what was true then, including "
        "facts since replaced; omit for the present.",
    )


def _moment(as_of: str | None) -> datetime | None:
    if as_of is None or not as_of.strip():
        return None
    moment = as_datetime(as_of)
    if moment is None:
        raise ToolException(
            f"as_of {as_of[:40]!r} is not a date; give an ISO date such as 2024-03-01, or omit it."
        )
    return moment


def _render(items: list[SearchItem], response_format: ResponseFormat) -> Any:
    text = json.dumps([item.dict() for item in items], ensure_ascii=False, default=str)
    if response_format == "content_and_artifact":
        return text, items
    return text


def create_search_memory_tool(
    namespace: tuple[str, ...] | str | NamespaceTemplate,
    *,
    instructions: str = "",
    store: BaseStore | None = None,
    response_format: ResponseFormat = "content",
    name: str = "search_memory",
    descendants: bool = False,
    limits: Limits | None = None,
    options: SearchOptions | None = None,
) -> StructuredTool:
    """A LangChain tool with which an agent searches the memories in ``namespace``.

    ``namespace`` may contain ``{placeholders}`` filled from the run's ``config["configurable"]``;
    searches never leave it: they see exactly that namespace, and the namespaces below it only
    with ``descendants=True``. With ``response_format="content_and_artifact"`` the tool also returns
    the raw ``SearchItem`` objects as the message artifact. Works with ``invoke`` and ``ainvoke``.
    A search the model got wrong (a filter outside Reverie's filter language, a query over
    ``limits``) is answered with the error as the tool's result, so the agent's run goes on.

    ``options`` (a :class:`~reverie.ledger.search.SearchOptions`: ``min_score``, ``diversity``,
    ``rerank``, ``ranking``) apply to every search the tool makes. They are the application's
    choice, not arguments the model sees. A search ``as_of`` a past date applies their
    ``min_score`` and ``rerank`` only.
    """
    limits = limits or DEFAULT_LIMITS
    template = NamespaceTemplate(namespace, limits=limits)

    def pipeline(
        config: RunnableConfig,
        query: str,
        limit: int,
        offset: int,
        filter: dict[str, Any] | None,
        as_of: str | None,
    ) -> Pipeline[Any]:
        where = template(config)
        try:
            query_, filter, limit, offset = checked_search_args(
                query, filter, limit, offset, limits
            )
            items = yield from search_in_time(
                port_for(resolve_store(store)),
                where,
                TimeQuery(as_of=_moment(as_of)),
                query=query_,
                filter=filter,
                limit=limit,
                offset=offset,
                descendants=descendants,
                options=options,
            )
        except ConfigurationError:
            raise  # the application's setup, not the model's call
        except InputError as exc:
            raise ToolException(f"{exc} Search again with a corrected call.") from None
        return _render(items, response_format)

    def search_memory(
        config: RunnableConfig,
        query: str,
        limit: int = 10,
        offset: int = 0,
        filter: dict[str, Any] | None = None,
        as_of: str | None = None,
    ) -> Any:
        return run(pipeline(config, query, limit, offset, filter, as_of))

    async def asearch_memory(
        config: RunnableConfig,
        query: str,
        limit: int = 10,
        offset: int = 0,
        filter: dict[str, Any] | None = None,
        as_of: str | None = None,
    ) -> Any:
        return await arun(pipeline(config, query, limit, offset, filter, as_of))

    description = "Search your long-term memories for anything relevant to the current context."
    if instructions:
        description += f" {instructions}"
    return NestingBoundTool.from_function(
        func=search_memory,
        coroutine=asearch_memory,
        name=name,
        description=description,
        args_schema=SearchMemoryArgs,
        infer_schema=False,
        response_format=response_format,
        handle_tool_error=True,
        # A filter deeper than that is refused all the same (max_filter_depth), as the tool's
        # answer, however deep the model nested it.
        max_argument_depth=limits.max_filter_depth + 1,
    )
