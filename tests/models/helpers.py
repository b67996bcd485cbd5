"""Scripted models that answer like the real servers these tests stand in for."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.memory import InMemoryStore

from reverie.testing import ScriptedRequest, hashing_index

CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice", "thread_id": "t1"}}
NS = ("memories", "alice")
DOGS = [{"role": "user", "content": "I like dogs. My dog's name is Fido."}]


def store_with(*texts: str) -> InMemoryStore:
    store = InMemoryStore(index=hashing_index())
    for n, text in enumerate(texts):
        store.put(NS, f"m{n}", {"kind": "Memory", "content": {"content": text}})
    return store


def contents(store: InMemoryStore) -> list[str]:
    return sorted(i.value["content"]["content"] for i in store.search(NS, limit=100))


def answer(*calls: tuple[str, dict[str, Any]]) -> str:
    """A JSON answer as a model in a JSON mode writes it."""
    return json.dumps({"calls": [{"name": n, "arguments": a} for n, a in calls]})


def is_tools_request(request: ScriptedRequest) -> bool:
    return bool(request.tools)


def is_correction(request: ScriptedRequest) -> bool:
    return len(request.messages) > 2
