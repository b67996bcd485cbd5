"""What the memory tools share: finding the store, turning values into JSON, and a tool class
that keeps a model's absurdly nested arguments from overflowing LangChain's tool runner."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.tools import StructuredTool
from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError
from reverie.core.text import clean_text
from reverie.core.values import cut_nesting, normalised_value

logger = logging.getLogger(__name__)


def resolve_store(explicit: BaseStore | None) -> BaseStore:
    """The store given to the tool, else the one of the LangGraph run the tool is called in."""
    if explicit is not None:
        return explicit
    from langgraph.config import get_store

    try:
        store = get_store()
    except (RuntimeError, KeyError):  # not inside a LangGraph run
        store = None
    if store is None:
        raise ConfigurationError(
            "The memory tool has no store. Pass store=... when creating it, or call it inside a "
            "LangGraph graph compiled with a store (e.g. create_react_agent(..., store=store))."
        )
    return store


def to_jsonable(content: Any) -> Any:
    """Pydantic models become plain JSON data; anything else is stored as given. Both after the
    value policy (``reverie.core.values``): NaN or Infinity raise ``UnstorableValueError``."""
    if hasattr(content, "model_dump"):
        try:
            dumped = content.model_dump(mode="json")
        except Exception:  # a model with non-JSON fields still gets stored, as text
            logger.exception("could not serialise %r; storing its text", content)
            return clean_text(str(content))
        return normalised_value(dumped, "content")
    return normalised_value(content, "content")


class NestingBoundTool(StructuredTool):
    """A ``StructuredTool`` that cuts each argument to ``max_argument_depth`` levels of dicts and
    lists before LangChain's runner sees it.

    ``BaseTool.run`` renders its input with ``str()`` for the callbacks before the arguments are
    validated or the tool is called, and an argument nested a few thousand levels deep (a model's
    filter, say) overflows Python's recursion there: a ``RecursionError`` instead of the tool's
    answer. Cut below one level more than the tool accepts, the argument is still refused by the
    tool's own checks, which answer with the usual error text (``handle_tool_error``).
    """

    max_argument_depth: int

    def run(self, tool_input: str | dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return super().run(self._bounded(tool_input), *args, **kwargs)

    async def arun(self, tool_input: str | dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return await super().arun(self._bounded(tool_input), *args, **kwargs)

    def _bounded(self, tool_input: str | dict[str, Any]) -> str | dict[str, Any]:
        if not isinstance(tool_input, dict):
            return tool_input
        return {
            name: cut_nesting(value, self.max_argument_depth) for name, value in tool_input.items()
        }
