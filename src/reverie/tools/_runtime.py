"""What the memory tools share: finding the store and turning values into JSON."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.store.base import BaseStore

from reverie.core.errors import ConfigurationError
from reverie.core.text import clean_text
from reverie.core.values import normalised_value

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
