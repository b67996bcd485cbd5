"""What each consolidation call costs in tokens, as the model (and the bill) sees it."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.store.memory import InMemoryStore
from typing_extensions import TypedDict

from reverie import create_memory_store_manager
from reverie.testing import ScriptedChatModel, hashing_index
from tests.helpers import new_conversation, shown_memories

# Instructions + tool schemas + headings of the default manager, with an empty store and a one-word
# message. About 270 today; a prompt change that crosses this should be a deliberate decision.
FIXED_PROMPT_TOKENS = 320


def silent_model() -> ScriptedChatModel:
    return ScriptedChatModel(responder=lambda request: AIMessage(content=""))


def config(thread: str = "t1") -> RunnableConfig:
    return {"configurable": {"langgraph_user_id": "alice", "thread_id": thread}}


def exchange(i: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"Day {i}: I visited museum number {i} and loved room {i}."},
        {"role": "assistant", "content": f"Museum {i} sounds great, tell me more about room {i}!"},
    ]


def test_grown_thread_sends_only_new_messages_and_marked_context() -> None:
    model = silent_model()
    manager = create_memory_store_manager(model, store=InMemoryStore(index=hashing_index()))
    thread: list[dict[str, str]] = []
    for i in range(30):
        thread += exchange(i)
        manager.invoke({"messages": thread}, config())
    first, last = model.calls[0], model.calls[-1]
    # The 30th call carries the newest exchange and the previous one as marked context only.
    assert "museum number 29" in new_conversation(last.request)
    assert "museum number 28" not in new_conversation(last.request)
    assert "Earlier (already processed):\nuser: Day 28:" in last.request.text
    assert "museum number 27" not in last.request.text
    # So its cost stays that of one exchange, not of thirty.
    assert last.input_tokens < first.input_tokens + 60
    assert sum(c.input_tokens for c in model.calls) < 30 * (first.input_tokens + 60)


def test_turning_incremental_off_resends_the_whole_thread() -> None:
    model = silent_model()
    manager = create_memory_store_manager(model, store=InMemoryStore(), incremental=False)
    thread: list[dict[str, str]] = []
    for i in range(10):
        thread += exchange(i)
        manager.invoke({"messages": thread}, config())
    last = new_conversation(model.calls[-1].request)
    assert all(f"museum number {i}" in last for i in range(10))
    assert model.calls[-1].input_tokens > model.calls[0].input_tokens + 9 * 25


def test_each_call_stays_within_the_token_budget_and_says_what_it_cut() -> None:
    store = InMemoryStore(index=hashing_index())
    for i in range(40):
        store.put(
            ("memories", "alice"),
            f"m{i}",
            {"kind": "Memory", "content": {"content": f"Alice memory {i}: " + "detail " * 60}},
        )
    model = silent_model()
    manager = create_memory_store_manager(model, store=store, token_budget=1200, query_limit=40)
    huge = "I wrote a long diary entry about memory and museums. " * 2000
    manager.invoke(
        {"messages": [{"role": "user", "content": huge}, *exchange(1)]},
        config(),
    )
    assert model.calls
    assert all(call.input_tokens <= 1200 for call in model.calls)
    sent = "\n".join(call.request.text for call in model.calls)
    assert "message truncated" in sent
    # Nothing new was silently dropped: the short exchange after the huge message still went out.
    assert "museum number 1" in sent
    # Fewer memories than the 40 asked for fit: the budget decided, not query_limit.
    assert 0 < len(shown_memories(model.calls[0].request)) < 40


def test_fixed_prompt_and_tool_schemas_are_small() -> None:
    model = silent_model()
    manager = create_memory_store_manager(model, store=InMemoryStore())
    manager.invoke({"messages": [{"role": "user", "content": "hi"}]}, config())
    (call,) = model.calls
    assert call.input_tokens <= FIXED_PROMPT_TOKENS
    assert call.tool_schema_chars <= 4 * 150


def test_inside_a_graph_without_config_the_runs_thread_id_still_counts() -> None:
    class State(TypedDict):
        messages: list[Any]

    model = silent_model()
    manager = create_memory_store_manager(model, store=InMemoryStore())

    def remember(state: State) -> dict[str, Any]:
        manager.invoke({"messages": state["messages"]})  # no config: the graph's is used
        return {}

    graph = StateGraph(State).add_node(remember).add_edge(START, "remember").compile()
    graph.invoke({"messages": exchange(1)}, config())
    graph.invoke({"messages": exchange(1) + exchange(2)}, config())
    second = new_conversation(model.calls[1].request)
    assert "museum number 2" in second
    assert "museum number 1" not in second
