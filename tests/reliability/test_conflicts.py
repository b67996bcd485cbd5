"""What a run does when the memories it read change before it writes."""

from __future__ import annotations

import threading

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie import ConflictError, create_memory_store_manager
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import alias_of, shown_memories

NS = ("memories", "alice")


def _config(thread: str | None = None) -> RunnableConfig:
    configurable = {"langgraph_user_id": "alice"}
    if thread:
        configurable["thread_id"] = thread
    return {"configurable": configurable}


def _payload(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def test_a_run_whose_memory_keeps_changing_gives_up_having_written_nothing(
    any_store: BaseStore,
) -> None:
    any_store.put(NS, "city", {"kind": "Memory", "content": {"content": "User lives in Lyon"}})
    edits = []

    def update_while_someone_else_writes(request: ScriptedRequest) -> Reply:
        # Another writer changes the memory between this run's read and its write, every time.
        edits.append(1)
        any_store.put(
            NS,
            "city",
            {"kind": "Memory", "content": {"content": f"User lives in Lyon ({len(edits)})"}},
        )
        return [
            tool_call(
                "Memory", {"content": "User moved to Paris", "memory_id": alias_of(request, "Lyon")}
            ),
            tool_call("Memory", {"content": "User has a cat"}),
        ]

    model = ScriptedChatModel(responder=update_while_someone_else_writes)
    manager = create_memory_store_manager(model, store=any_store)
    with pytest.raises(ConflictError, match=r"kept changing .* \(3 attempts\)\. Run it again"):
        manager.invoke(_payload("I moved to Paris and adopted a cat."), _config("t1"))
    assert len(model.calls) == 3  # max_conflict_retries=2: read again and asked again twice
    (item,) = any_store.search(NS)
    assert item.value["content"]["content"] == "User lives in Lyon (3)"  # the other writer's
    assert manager.history(config=_config()) == []
    # The thread was not marked processed: running it again (now without interference) applies it.
    calm = ScriptedChatModel(
        responder=lambda r: tool_call(
            "Memory", {"content": "User moved to Paris", "memory_id": alias_of(r, "Lyon")}
        )
    )
    create_memory_store_manager(calm, store=any_store).invoke(
        _payload("I moved to Paris and adopted a cat."), _config("t1")
    )
    assert [i.value["content"]["content"] for i in any_store.search(NS)] == ["User moved to Paris"]


def test_an_update_lands_after_one_reread_when_the_memory_changed_once(
    any_store: BaseStore,
) -> None:
    any_store.put(NS, "city", {"kind": "Memory", "content": {"content": "ledger: a"}})
    interfered: list[int] = []

    def append_b(request: ScriptedRequest) -> Reply:
        alias = alias_of(request, "ledger:")
        text = shown_memories(request)[alias]
        if not interfered:
            interfered.append(1)
            any_store.put(NS, "city", {"kind": "Memory", "content": {"content": "ledger: a c"}})
        return tool_call("Memory", {"content": text + " b", "memory_id": alias})

    model = ScriptedChatModel(responder=append_b)
    create_memory_store_manager(model, store=any_store).invoke(_payload("add b"), _config())
    assert len(model.calls) == 2
    item = any_store.get(NS, "city")
    assert item is not None
    assert item.value["content"]["content"] == "ledger: a c b"


def test_two_runs_handed_the_same_thread_at_once_consolidate_it_once(any_store: BaseStore) -> None:
    both_asked = threading.Barrier(2, timeout=10)

    def remember(request: ScriptedRequest) -> Reply:
        if "Stored memories: none" in request.text:
            both_asked.wait()  # both runs have read the thread's progress before either writes
        return tool_call("Memory", {"content": "User plays the oboe"})

    results: list = []

    def run() -> None:
        manager = create_memory_store_manager(
            ScriptedChatModel(responder=remember), store=any_store
        )
        results.append(manager.invoke(_payload("I play the oboe."), _config("same-thread")))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(len(r) for r in results) == [0, 1]
    assert [i.value["content"]["content"] for i in any_store.search(NS)] == ["User plays the oboe"]


def test_the_default_memory_is_only_created_if_still_absent(any_store: BaseStore) -> None:
    """Another run may create and update the default memory between this run's look and its
    write; this run must then use that memory, not overwrite it with a fresh default."""

    def default_made_meanwhile(config: RunnableConfig) -> str:
        any_store.put(
            NS, "default", {"kind": "Memory", "content": {"content": "Profile: likes tea"}}
        )
        return "Profile: (empty)"

    model = ScriptedChatModel(
        responder=lambda r: tool_call(
            "Memory", {"content": "Profile: likes tea, lives in Lyon", "memory_id": "1"}
        )
    )
    manager = create_memory_store_manager(
        model, store=any_store, default_factory=default_made_meanwhile
    )
    manager.invoke(_payload("I live in Lyon."), _config())
    assert "[1] Profile: likes tea" in model.calls[0].request.text
    item = any_store.get(NS, "default")
    assert item is not None
    assert item.value["content"]["content"] == "Profile: likes tea, lives in Lyon"
    assert [r.action for r in manager.history(config=_config())] == ["update"]
