"""Threads processed again send the model only what is new."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.memory import InMemoryStore

from reverie import create_memory_store_manager
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import new_conversation


def thread_config(thread: str = "t1") -> RunnableConfig:
    return {"configurable": {"langgraph_user_id": "alice", "thread_id": thread}}


def recorder() -> ScriptedChatModel:
    def respond(request: ScriptedRequest) -> Reply:
        return AIMessage(content="")

    return ScriptedChatModel(responder=respond)


THREAD = [
    {"role": "user", "content": "My sister is called Ana."},
    {"role": "assistant", "content": "Nice to know!"},
    {"role": "user", "content": "She lives in Porto."},
    {"role": "assistant", "content": "Porto is lovely."},
]


def test_whole_thread_again_sends_only_new_messages_with_marked_context() -> None:
    model = recorder()
    store = InMemoryStore(index=hashing_index())
    manager = create_memory_store_manager(model, store=store)
    manager.invoke({"messages": THREAD[:2]}, thread_config())
    manager.invoke({"messages": THREAD}, thread_config())
    second = model.calls[1].request.text
    assert "New conversation:\nuser: She lives in Porto.\nassistant: Porto is lovely." in second
    assert (
        "Earlier (already processed):\nuser: My sister is called Ana.\nassistant: Nice to know!"
        in second
    )
    # Nothing new: no model call at all.
    manager.invoke({"messages": THREAD}, thread_config())
    assert len(model.calls) == 2


def test_latest_exchange_only_gets_context_from_the_stored_watermark() -> None:
    model = recorder()
    store = InMemoryStore()
    manager = create_memory_store_manager(model, store=store)
    manager.invoke({"messages": THREAD[:2]}, thread_config())
    manager.invoke({"messages": THREAD[2:]}, thread_config())
    second = model.calls[1].request.text
    assert "Earlier (already processed):\nuser: My sister is called Ana." in second
    assert new_conversation(model.calls[1].request).strip().startswith("user: She lives in Porto.")


def test_watermark_survives_a_new_manager_and_is_per_thread() -> None:
    store = InMemoryStore()
    first = recorder()
    create_memory_store_manager(first, store=store).invoke(
        {"messages": THREAD[:2]}, thread_config()
    )
    again = recorder()
    manager = create_memory_store_manager(again, store=store)
    manager.invoke({"messages": THREAD[:2]}, thread_config())
    assert again.calls == []
    manager.invoke({"messages": THREAD[:2]}, thread_config("other-thread"))
    assert len(again.calls) == 1
    # Bookkeeping never shows up among the memories.
    assert store.search(("memories",)) == []


def test_incremental_can_be_turned_off() -> None:
    model = recorder()
    manager = create_memory_store_manager(model, store=InMemoryStore(), incremental=False)
    manager.invoke({"messages": THREAD}, thread_config())
    manager.invoke({"messages": THREAD}, thread_config())
    assert "user: My sister is called Ana." in new_conversation(model.calls[1].request)


def test_messages_with_ids_are_tracked_by_id() -> None:
    model = recorder()
    manager = create_memory_store_manager(model, store=InMemoryStore())
    thread = [dict(m, id=f"m{i}") for i, m in enumerate(THREAD)]
    manager.invoke({"messages": thread[:2]}, thread_config())
    edited = [*thread[:2], {"role": "user", "content": "She lives in Porto.", "id": "m2"}]
    manager.invoke({"messages": edited}, thread_config())
    assert new_conversation(model.calls[1].request).strip() == "user: She lives in Porto."


def test_long_input_is_split_into_rounds_without_losing_messages() -> None:
    seen: list[str] = []

    def respond(request: ScriptedRequest) -> Reply:
        seen.append(new_conversation(request))
        return AIMessage(content="")

    model = ScriptedChatModel(responder=respond)
    manager = create_memory_store_manager(model, store=InMemoryStore(), token_budget=600)
    messages = [{"role": "user", "content": f"Fact number {i} is {'x' * 40}"} for i in range(60)]
    manager.invoke({"messages": messages}, thread_config())
    assert len(model.calls) > 1
    joined = "".join(seen)
    assert all(f"Fact number {i} is" in joined for i in range(60))
    assert all(call.input_tokens < 700 for call in model.calls)


def test_one_huge_message_is_truncated_with_a_note() -> None:
    model = recorder()
    manager = create_memory_store_manager(model, store=InMemoryStore(), token_budget=2000)
    manager.invoke({"messages": [{"role": "user", "content": "a" * 1_000_000}]}, thread_config())
    (call,) = model.calls
    assert "message truncated" in call.request.text
    assert call.input_tokens < 2000


def test_retried_run_with_the_same_idempotency_key_does_not_duplicate() -> None:
    store = InMemoryStore()
    model = ScriptedChatModel(
        responder=lambda r: tool_call("Memory", {"content": "User likes tea"})
    )
    manager = create_memory_store_manager(model, store=store, incremental=False)
    config: RunnableConfig = {
        "configurable": {"langgraph_user_id": "alice", "idempotency_key": "job-42"}
    }
    manager.invoke({"messages": THREAD[:1]}, config)
    manager.invoke({"messages": THREAD[:1]}, config)
    assert len(store.search(("memories", "alice"))) == 1
    assert len(manager.history(config=config)) == 1


def test_messages_whose_reply_could_not_be_read_are_read_again_on_the_next_run() -> None:
    # Prose, or JSON cut off by a token limit, is not "nothing worth remembering": the thread's
    # progress must not move past those messages, or their facts are lost for good.
    thread = {"messages": [{"role": "user", "content": "I'm allergic to penicillin."}]}
    for unreadable in (
        "Noted, the user is allergic to penicillin.",
        '{"calls": [{"name": "Memory", "arguments": {"content": "User is aller',
    ):
        store = InMemoryStore()
        namespace = ("memories", "{langgraph_user_id}")
        flaky = create_memory_store_manager(
            ScriptedChatModel(replies=[unreadable]), namespace=namespace, store=store
        )
        first = flaky.invoke(thread, thread_config())
        assert first == []
        assert first.report.nothing_stored == "unusable_reply"
        assert any("next run reads them again" in w for w in first.report.warnings)
        model = ScriptedChatModel(
            replies=[tool_call("Memory", {"content": "User is allergic to penicillin"})]
        )
        good = create_memory_store_manager(model, namespace=namespace, store=store)
        second = good.invoke(thread, thread_config())
        assert len(model.calls) == 1
        assert "allergic to penicillin" in new_conversation(model.calls[0].request)
        assert [i.value["content"]["content"] for i in store.search(("memories", "alice"))] == [
            "User is allergic to penicillin"
        ]
        assert len(second) == 1
        # Once read, the messages are done: a third run asks nothing.
        again = ScriptedChatModel(replies=[])
        create_memory_store_manager(again, namespace=namespace, store=store).invoke(
            thread, thread_config()
        )
        assert again.calls == []
