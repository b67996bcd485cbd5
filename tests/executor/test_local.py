"""ReflectionExecutor: debounce, concurrency, shutdown, failures, and use from graphs and loops."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import CancelledError, Future
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store
from langgraph.func import entrypoint
from langgraph.store.memory import InMemoryStore

from reverie import ConfigurationError, create_memory_store_manager
from reverie.core.errors import InputError
from reverie.executor import CancelledSubmission, ReflectionExecutor
from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import GatedChatModel, new_conversation

REPO = Path(__file__).resolve().parents[2]


def remember_last_line(request: ScriptedRequest) -> dict:
    """Stores the newest conversation line as a memory: a pure function of the payload."""
    lines = [line for line in new_conversation(request).strip().splitlines() if line]
    return tool_call("Memory", {"content": lines[-1] if lines else "nothing"})


def make_store() -> InMemoryStore:
    return InMemoryStore(index={"dims": 64, "embed": HashingEmbeddings(64)})


def conversation(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def thread(name: str) -> RunnableConfig:
    return {"configurable": {"thread_id": name}}


def test_rapid_submits_to_one_thread_lead_to_one_call_with_the_latest_payload() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    store = make_store()
    manager = create_memory_store_manager(model, namespace=("memories",))
    with ReflectionExecutor(manager, store=store) as executor:
        # Far-off deadlines, so no submission can start while the others are still arriving;
        # leaving the block (shutdown) processes the one still pending now.
        futures = [
            executor.submit(conversation(f"message {i}"), thread("t1"), after_seconds=600)
            for i in range(5)
        ]
    futures[-1].result(timeout=10)

    assert [f.cancelled() for f in futures] == [True, True, True, True, False]
    (call,) = model.calls
    assert "message 4" in call.request.text
    assert "message 3" not in call.request.text
    assert [i["value"]["content"]["content"] for i in executor.search()] == ["user: message 4"]


def test_submissions_without_a_thread_id_are_not_debounced() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=("memories",), store=make_store())
    with ReflectionExecutor(manager) as executor:
        futures = [executor.submit(conversation(f"note {i}"), after_seconds=0.2) for i in range(3)]
        for future in futures:
            future.result(timeout=10)
    assert len(model.calls) == 3


def test_explicit_thread_id_overrides_the_config_and_none_disables_debounce() -> None:
    seen: list[str] = []
    with ReflectionExecutor(lambda payload: seen.append(payload)) as executor:
        a = executor.submit("a", thread("t1"), after_seconds=0.3, thread_id="other")
        b = executor.submit("b", thread("t1"), after_seconds=0.3)
        c = executor.submit("c", thread("t1"), after_seconds=0.3, thread_id=None)
        for future in (a, b, c):
            future.result(timeout=10)
    assert sorted(seen) == ["a", "b", "c"]


def test_different_threads_run_concurrently_with_an_async_manager() -> None:
    # Each model call waits until the other one has arrived: sequential runs break the barrier.
    model = GatedChatModel(responder=remember_last_line, gate=threading.Barrier(2))
    manager = create_memory_store_manager(model, namespace=("memories",), store=make_store())
    with ReflectionExecutor(manager) as executor:
        first = executor.submit(conversation("from thread one"), thread("one"))
        second = executor.submit(conversation("from thread two"), thread("two"))
        first.result(timeout=30)
        second.result(timeout=30)
    assert len(model.calls) == 2


def test_different_threads_run_concurrently_with_a_sync_reflector() -> None:
    both_running = threading.Barrier(2, timeout=10)

    def reflect(payload: str) -> str:
        both_running.wait()  # breaks (and raises) unless the other thread's work runs meanwhile
        return payload

    with ReflectionExecutor(reflect) as executor:
        futures = [executor.submit(p, thread(p)) for p in ("one", "two")]
        assert [f.result(timeout=20) for f in futures] == ["one", "two"]


def test_one_thread_runs_one_reflection_at_a_time() -> None:
    running = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def reflect(payload: str) -> None:
        order.append(f"start {payload}")
        if payload == "first":
            running.set()
            release.wait(10)
        order.append(f"end {payload}")

    with ReflectionExecutor(reflect) as executor:
        first = executor.submit("first", thread("t"))
        assert running.wait(10)
        second = executor.submit("second", thread("t"))
        third = executor.submit("third", thread("t"))  # replaces "second", still waiting
        release.set()
        first.result(timeout=10)
        third.result(timeout=10)
    assert second.cancelled()
    assert order == ["start first", "end first", "start third", "end third"]


def test_shutdown_processes_delayed_work_now_by_default() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=("memories",), store=make_store())
    executor = ReflectionExecutor(manager)
    future = executor.submit(conversation("remember me"), thread("t"), after_seconds=600)
    assert not future.done()
    assert executor.shutdown(wait=True) == []
    assert future.done() and not future.cancelled()
    assert len(model.calls) == 1
    assert [i["value"]["content"]["content"] for i in executor.search()] == ["user: remember me"]


def test_shutdown_with_cancel_futures_reports_what_it_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=("memories",), store=make_store())
    executor = ReflectionExecutor(manager)
    pending = [
        executor.submit(conversation(f"late {i}"), thread(f"t{i}"), after_seconds=600)
        for i in range(3)
    ]
    with caplog.at_level(logging.WARNING, logger="reverie.executor"):
        cancelled = executor.shutdown(wait=True, cancel_futures=True)

    assert sorted(cancelled) == sorted(
        CancelledSubmission(f"t{i}", conversation(f"late {i}")) for i in range(3)
    )
    assert all(f.cancelled() for f in pending)
    assert model.calls == []
    assert "cancelled 3 pending reflection(s)" in caplog.text


def test_on_shutdown_cancel_is_the_context_manager_default() -> None:
    seen: list[str] = []
    with ReflectionExecutor(seen.append, on_shutdown="cancel") as executor:
        future = executor.submit("dropped", after_seconds=600)
    assert future.cancelled()
    assert seen == []


def test_submit_after_shutdown_is_refused() -> None:
    executor = ReflectionExecutor(lambda payload: None)
    executor.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit("late")


def test_pending_work_is_processed_when_the_interpreter_exits(tmp_path: Path) -> None:
    marker = tmp_path / "processed.txt"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from reverie.executor import ReflectionExecutor

        def reflect(payload):
            Path({str(marker)!r}).write_text(payload)

        executor = ReflectionExecutor(reflect)
        executor.submit("latest words", {{"configurable": {{"thread_id": "t"}}}}, after_seconds=600)
        # The script ends without shutdown(): the exit hook processes the delayed work now.
        """
    )
    env = {"PYTHONPATH": f"{REPO / 'src'}:{REPO}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "latest words"


def test_an_async_manager_on_the_embedded_store_finishes_its_work_at_exit(
    tmp_path: Path,
) -> None:
    """Pending work that needs threads at exit (the store's async path waits in one) still
    runs: the executor's threads are its own, not ``concurrent.futures``' (closed by then)."""
    path = tmp_path / "memories.db"
    script = textwrap.dedent(
        f"""
        from reverie import create_memory_store_manager
        from reverie.executor import ReflectionExecutor
        from reverie.stores.embedded import EmbeddedStore
        from reverie.testing import ScriptedChatModel, hashing_index, tool_call

        store = EmbeddedStore({str(path)!r}, index=hashing_index())
        model = ScriptedChatModel(responder=lambda r: tool_call("Memory", {{"content": "likes tea"}}))
        manager = create_memory_store_manager(model, namespace=("memories",), store=store)
        executor = ReflectionExecutor(manager)
        payload = {{"messages": [{{"role": "user", "content": "I like tea"}}]}}
        executor.submit(payload, {{"configurable": {{"thread_id": "t"}}}}, after_seconds=600)
        """
    )
    env = {"PYTHONPATH": f"{REPO / 'src'}:{REPO}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    from reverie.stores.embedded import EmbeddedStore
    from reverie.testing import hashing_index

    with EmbeddedStore(path, index=hashing_index()) as store:
        assert [i.value["content"]["content"] for i in store.search(("memories",))] == ["likes tea"]


def test_failures_are_set_on_the_future_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def reflect(payload: str) -> None:
        raise ValueError(f"cannot reflect on {payload}")

    with (
        caplog.at_level(logging.ERROR, logger="reverie.executor"),
        ReflectionExecutor(reflect) as executor,
    ):
        future = executor.submit("this", thread("t"))
        with pytest.raises(ValueError, match="cannot reflect on this"):
            future.result(timeout=10)
    assert "cannot reflect on this" in caplog.text
    assert any(r.name == "reverie.executor" and r.exc_info for r in caplog.records)


def test_model_failures_reach_the_future() -> None:
    def broken(request: ScriptedRequest) -> dict:
        raise RuntimeError("provider is down")

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=broken), namespace=("memories",), store=make_store()
    )
    with ReflectionExecutor(manager) as executor:
        future = executor.submit(conversation("hello"), thread("t"))
        with pytest.raises(RuntimeError, match="provider is down"):
            future.result(timeout=10)


def test_a_cancelled_future_reports_cancellation() -> None:
    with ReflectionExecutor(lambda payload: None) as executor:
        old = executor.submit("old", thread("t"), after_seconds=600)
        executor.submit("new", thread("t"))
        with pytest.raises(CancelledError):
            old.result(timeout=10)


def test_a_manager_without_any_store_is_refused_at_submit() -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), namespace=("memories",))
    with (
        ReflectionExecutor(manager) as executor,
        pytest.raises(ConfigurationError, match="no store"),
    ):
        executor.submit(conversation("hello"), thread("t"))


def test_sync_reflectors_see_the_executor_store_through_get_store() -> None:
    store = make_store()

    def reflect(payload: str, config: dict) -> str:
        get_store().put(("notes",), "k", {"text": payload})
        return config["configurable"]["thread_id"]

    with ReflectionExecutor(reflect, store=store) as executor:
        assert executor.submit("hi", thread("t")).result(timeout=10) == "t"
    item = store.get(("notes",), "k")
    assert item is not None
    assert item.value == {"text": "hi"}


def test_inside_an_entrypoint_as_in_the_quickstart() -> None:
    store = make_store()
    llm = ScriptedChatModel(replies=["Fido is a lovely name for a dog!"])
    extraction = ScriptedChatModel(
        responder=lambda request: [
            tool_call("Memory", {"content": "User likes dogs"}),
            tool_call("Memory", {"content": "User has a dog named Fido"}),
        ]
    )
    memory_manager = create_memory_store_manager(extraction, namespace=("memories",))
    executor = ReflectionExecutor(memory_manager)
    futures = []

    @entrypoint(store=store)
    def chat(message: str) -> str:
        response = llm.invoke(message)
        to_process = {"messages": [{"role": "user", "content": message}] + [response]}
        futures.append(executor.submit(to_process, after_seconds=0))
        return str(response.content)

    reply = chat.invoke("I like dogs. My dog's name is Fido.", {"configurable": {"thread_id": "1"}})
    assert reply == "Fido is a lovely name for a dog!"
    futures[0].result(timeout=10)
    executor.shutdown()
    assert sorted(i.value["content"]["content"] for i in store.search(("memories",))) == [
        "User has a dog named Fido",
        "User likes dogs",
    ]
    (call,) = extraction.calls
    assert "My dog's name is Fido." in call.request.text


async def test_async_entrypoint_submits_without_blocking_the_loop() -> None:
    store = make_store()
    model = GatedChatModel(responder=remember_last_line, gate=threading.Event())
    memory_manager = create_memory_store_manager(model, namespace=("memories",))
    executor = ReflectionExecutor(memory_manager)

    @entrypoint(store=store)
    async def chat(message: str, config: RunnableConfig) -> object:
        # Explicit config: LangGraph hands async code its config implicitly only on Python 3.11+.
        return executor.submit({"messages": [{"role": "user", "content": message}]}, config)

    future = await chat.ainvoke("my cat is Tom", {"configurable": {"thread_id": "1"}})
    assert isinstance(future, Future)
    assert not future.done()  # the reply came back before the reflection finished
    model.gate.set()
    await asyncio.wrap_future(future)
    executor.shutdown()
    assert [i.value["content"]["content"] for i in store.search(("memories",))] == [
        "user: my cat is Tom"
    ]


async def test_submit_from_a_running_event_loop() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    manager = create_memory_store_manager(model, namespace=("memories",), store=make_store())
    executor = ReflectionExecutor(manager)
    futures = [
        await executor.asubmit(conversation(f"async {i}"), thread("t"), after_seconds=600)
        for i in range(3)
    ]
    executor.shutdown(wait=False)  # processes the pending submission now
    await asyncio.wrap_future(futures[-1])
    assert [f.cancelled() for f in futures] == [True, True, False]
    results = await executor.asearch()
    assert [r["value"]["content"]["content"] for r in results] == ["user: async 2"]


def test_a_stateless_memory_manager_returns_its_memories_on_the_future() -> None:
    from reverie import create_memory_manager

    model = ScriptedChatModel(responder=lambda r: tool_call("Memory", {"content": "likes tea"}))
    with ReflectionExecutor(create_memory_manager(model)) as executor:
        future = executor.submit(conversation("I like tea"), thread("t"))
        (memory,) = future.result(timeout=10)
    assert memory.content.content == "likes tea"


def test_cancel_pending_drops_a_users_waiting_submissions_only() -> None:
    model = ScriptedChatModel(responder=remember_last_line)
    store = make_store()
    manager = create_memory_store_manager(model, namespace=("memories", "{langgraph_user_id}"))

    def user(name: str, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id, "langgraph_user_id": name}}

    with ReflectionExecutor(manager, store=store) as executor:
        ana = [
            executor.submit(conversation(f"ana {i}"), user("ana", f"a{i}"), after_seconds=600)
            for i in range(2)
        ]
        ben = executor.submit(conversation("ben 0"), user("ben", "b0"), after_seconds=600)
        dropped = executor.cancel_pending({"langgraph_user_id": "ana"})
        with pytest.raises(InputError, match="cancel everything"):
            executor.cancel_pending({})
        executor.shutdown(cancel_futures=False)  # runs what is still waiting, now
    assert sorted(str(d.thread_id) for d in dropped) == ["a0", "a1"]
    assert all(f.cancelled() for f in ana)
    ben.result(timeout=10)
    assert store.search(("memories", "ana")) == []
    assert [i.value["content"]["content"] for i in store.search(("memories", "ben"))] == [
        "user: ben 0"
    ]
