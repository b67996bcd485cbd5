"""ReflectionExecutor debounces per thread *of one user*: apps reuse thread ids such as "1" for
every user, and one user's submission must never cancel another user's pending reflection."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from reverie import create_memory_store_manager
from reverie.executor import ReflectionExecutor
from reverie.testing import ScriptedChatModel
from tests.executor.test_local import conversation, make_store, remember_last_line

NAMESPACE = ("memories", "{langgraph_user_id}")


def user(name: str, thread_id: str = "1", **more: Any) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "langgraph_user_id": name, **more}}


def remembered(executor: ReflectionExecutor, name: str) -> list[str]:
    found = executor.search(config=user(name))
    return sorted(i["value"]["content"]["content"] for i in found)


def test_two_users_with_the_same_thread_id_both_get_their_memories() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=NAMESPACE, store=make_store())
    with ReflectionExecutor(manager) as executor:
        # Far-off deadlines: both wait together; leaving the block runs what is still pending.
        ana = executor.submit(conversation("ana likes tea"), user("ana"), after_seconds=600)
        ben = executor.submit(conversation("ben likes jazz"), user("ben"), after_seconds=600)
    assert not ana.cancelled() and not ben.cancelled()
    ana.result(timeout=10)
    ben.result(timeout=10)
    assert remembered(executor, "ana") == ["user: ana likes tea"]
    assert remembered(executor, "ben") == ["user: ben likes jazz"]


def test_one_user_and_thread_still_runs_only_the_latest_payload() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=NAMESPACE, store=make_store())
    with ReflectionExecutor(manager) as executor:
        # Settings that change at every call (a run id, a checkpoint) do not split the thread.
        futures = [
            executor.submit(
                conversation(f"ana message {i}"),
                user("ana", run_id=f"run-{i}", checkpoint_id=f"cp-{i}"),
                after_seconds=600,
            )
            for i in range(3)
        ]
    futures[-1].result(timeout=10)
    assert [f.cancelled() for f in futures] == [True, True, False]
    (call,) = model.calls
    assert "ana message 2" in call.request.text
    assert remembered(executor, "ana") == ["user: ana message 2"]


def test_a_plain_function_reflector_keeps_users_apart_by_their_settings() -> None:
    # No manager, so no namespace to read: the config's settings tell the users apart.
    seen: list[str] = []
    with ReflectionExecutor(seen.append) as executor:
        ana_old = executor.submit("ana old", user("ana"), after_seconds=600)
        ben = executor.submit("ben", user("ben"), after_seconds=600)
        ana_new = executor.submit("ana new", user("ana"), after_seconds=600)
    ben.result(timeout=10)
    ana_new.result(timeout=10)
    assert ana_old.cancelled()
    assert sorted(seen) == ["ana new", "ben"]


def test_cancel_pending_finds_a_user_among_others_on_the_same_thread_id() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=NAMESPACE, store=make_store())
    with ReflectionExecutor(manager) as executor:
        executor.submit(conversation("ana 0"), user("ana"), after_seconds=600)
        ben = executor.submit(conversation("ben 0"), user("ben"), after_seconds=600)
        dropped = executor.cancel_pending({"langgraph_user_id": "ana"})
    ben.result(timeout=10)
    assert [(d.thread_id, d.payload) for d in dropped] == [("1", conversation("ana 0"))]
    assert remembered(executor, "ana") == []
    assert remembered(executor, "ben") == ["user: ben 0"]
