"""What the hostile-values tests share: the values, a seeded store, scripted models, and the
checks every case ends with (nothing stored before changed; the thread still works)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from pydantic import BaseModel

from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.core.text import clean_text
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import new_conversation

ALICE: RunnableConfig = {"configurable": {"langgraph_user_id": "alice", "thread_id": "t"}}
NS = ("memories", "alice")
BOB_NS = ("memories", "bob")
SEED = {"kind": "Memory", "content": {"content": "User is called Alice"}}
BOB = {"kind": "Memory", "content": {"content": "Bob lives in Oslo"}}
ORDINARY = {"role": "user", "content": "I also like jazz"}
MB = 1024 * 1024

# Text a user, a model or a file may hold, and what Reverie stores instead.
TEXTS = {
    "nul": "I like \x00 tea",
    "lone-surrogate": "I like \ud800 tea",
    "nul-and-surrogates": "\x00I\udce9 like\x00 tea\ud800",
}
NON_FINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
# Ids that no store can index (or not on every backend).
BAD_IDS = {
    "nul": "ali\x00ce",
    "lone-surrogate": "ali\ud800ce",
    "3000-chars": "é" * 3000,
    "100k-chars": "a" * 100_000,
}
HOSTILE_FILTERS: dict[str, Any] = {
    "$or": {"$or": [{"kind": "Memory"}, {"kind": "x"}]},
    "$and": {"$and": [{"kind": "Memory"}]},
    "$in": {"kind": {"$in": ["Memory"]}},
    "$regex": {"kind": {"$regex": ".*"}},
    "huge-int": {"n": 10**400},
    "nan": {"n": float("nan")},
    "ordering-a-string": {"n": {"$gt": "3"}},
    "operator-in-list": {"tags": [{"$gt": 1}]},
    "mixed": {"meta": {"$eq": 1, "owner": "x"}},
    "2000-deep": None,  # built below
    "100-deep": None,
    "5000-keys": {f"k{i}": i for i in range(5000)},
    "not-a-dict": ["kind", "Memory"],
}


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        node = {"a": node}
    return node


HOSTILE_FILTERS["2000-deep"] = _nested(2000)
HOSTILE_FILTERS["100-deep"] = _nested(100)


class Preference(BaseModel):
    """A preference with a strength: a custom schema with a float field."""

    topic: str
    weight: float


def incompressible(size: int, seed: int = 0) -> str:
    """``size`` UTF-8 bytes of random 4-byte characters (PostgreSQL cannot compress them)."""
    chosen = random.Random(seed)
    return "".join(chr(chosen.randrange(0x1F300, 0x1F5FF)) for _ in range(size // 4))


def config(user: str, thread: str = "t") -> RunnableConfig:
    return {"configurable": {"langgraph_user_id": user, "thread_id": thread}}


def normalised(text: str) -> str:
    return clean_text(text)


def echo_user_lines(request: ScriptedRequest) -> Any:
    """A model that stores each new user line as a memory."""
    calls = [
        tool_call("Memory", {"content": line[6:]})
        for line in new_conversation(request).splitlines()
        if line.startswith("user: ")
    ]
    return calls or AIMessage(content="")


def first_reply_then_nothing(calls: list[dict[str, Any]]) -> Any:
    """A model that answers ``calls`` and, asked to correct them, answers nothing."""

    def respond(request: ScriptedRequest) -> Any:
        corrected = any(m.type == "ai" for m in request.messages)
        return AIMessage(content="") if corrected else calls

    return respond


def contents(store: BaseStore, namespace: tuple[str, ...] = NS) -> list[Any]:
    """What each memory of ``namespace`` holds: a text, or a schema's fields."""
    found = []
    for item in store.search(namespace, limit=1000):
        if tuple(item.namespace) != namespace:
            continue
        content = item.value.get("content")
        if isinstance(content, dict) and set(content) == {"content"}:
            content = content["content"]
        found.append(content)
    return sorted(found, key=lambda c: json.dumps(c, sort_keys=True))


@dataclass
class Harness:
    """A store seeded with Alice's and Bob's memories, and the checks every case ends with."""

    store: BaseStore

    def __post_init__(self) -> None:
        self.store.put(NS, "seed", SEED)
        self.store.put(BOB_NS, "bob", BOB)

    def manager(
        self, responder: Any = echo_user_lines, **options: Any
    ) -> tuple[MemoryStoreManager, ScriptedChatModel]:
        model = ScriptedChatModel(responder=responder)
        return create_memory_store_manager(model, store=self.store, **options), model

    def check_nothing_stored_changed(self) -> None:
        seed, bob = self.store.get(NS, "seed"), self.store.get(BOB_NS, "bob")
        assert seed is not None and seed.value == SEED
        assert bob is not None and bob.value == BOB
        assert contents(self.store, BOB_NS) == ["Bob lives in Oslo"]

    def check_thread_still_works(
        self,
        earlier: list[dict[str, Any]],
        namespace: tuple[str, ...] = ("memories", "{langgraph_user_id}"),
    ) -> None:
        """The thread's next ordinary message is sent alone and stored (in ``namespace``, the
        template the case's manager used)."""
        manager, model = self.manager(namespace=namespace)
        manager.invoke({"messages": [*earlier, ORDINARY]}, ALICE)
        assert new_conversation(model.calls[-1].request).strip() == "user: I also like jazz"
        assert "I also like jazz" in contents(self.store, manager.get_namespace(ALICE))
        self.check_nothing_stored_changed()
