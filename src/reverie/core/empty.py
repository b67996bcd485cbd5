"""When a memory is empty: the one rule every entry point applies before it writes a memory (the
managers' model calls, the ``manage_memory`` tool, the MCP server).

An empty memory is never worth storing, and writing one over a stored memory would wipe it while
reporting success, so each entry point refuses it with a message saying what to send instead.
"""

from __future__ import annotations

from typing import Any

from reverie.core.text import clean_text


def is_empty(value: Any) -> bool:
    """Whether ``value`` holds nothing once normalised: None, text that is empty or only
    whitespace after NUL characters are removed, or a list or dict holding only such values.

    Numbers and booleans are content (``False`` and ``0`` included). ``value`` is a stored value
    (JSON-like, its depth already bounded by the value policy)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not clean_text(value).strip()
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_empty(v) for v in value)
    return False


__all__ = ["is_empty"]
