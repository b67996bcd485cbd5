"""Offline test helpers: a scripted chat model and deterministic embeddings."""

from reverie.testing.embeddings import HashingEmbeddings, hashing_index
from reverie.testing.scripted import ScriptedCall, ScriptedChatModel, ScriptedRequest, tool_call

__all__ = [
    "HashingEmbeddings",
    "ScriptedCall",
    "ScriptedChatModel",
    "ScriptedRequest",
    "hashing_index",
    "tool_call",
]
