"""Offline test helpers: a scripted chat model and deterministic embeddings.

Imported on first use, so that ``reverie --embeddings hashing`` does not load the chat model
machinery the scripted model needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reverie.testing.embeddings import HashingEmbeddings, hashing_index
    from reverie.testing.scripted import (
        ScriptedCall,
        ScriptedChatModel,
        ScriptedRequest,
        tool_call,
    )

_LAZY = {
    "HashingEmbeddings": "reverie.testing.embeddings",
    "hashing_index": "reverie.testing.embeddings",
    "ScriptedCall": "reverie.testing.scripted",
    "ScriptedChatModel": "reverie.testing.scripted",
    "ScriptedRequest": "reverie.testing.scripted",
    "tool_call": "reverie.testing.scripted",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reverie.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "HashingEmbeddings",
    "ScriptedCall",
    "ScriptedChatModel",
    "ScriptedRequest",
    "hashing_index",
    "tool_call",
]
