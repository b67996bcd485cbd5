"""LangMem's short-term memory examples (the summarization guide and the docstrings), with only
the import changed (langmem -> reverie) and the model scripted.

The scripted models count tokens by words (``custom_get_token_ids``) because the examples pass
``model.get_num_tokens_from_messages``, which would otherwise download a tokenizer.
No ``from __future__ import annotations``: LangGraph reads the nodes' state types from their
annotations, as in the examples.
"""

import asyncio
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from reverie.short_term import (
    RunningSummary,
    SummarizationNode,
    asummarize_messages,
    summarize_messages,
)
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.short_term.validator import check_openai_sequence

POEM = " ".join(["Soft paws tread the moonlit floor, whiskers bright, a purring roar."] * 12)


def chat_model() -> ScriptedChatModel:
    """Answers with long poems (so the history outgrows the budget), the summarizer's requests
    with a short summary; checks that every request a provider would accept."""

    def respond(request: ScriptedRequest) -> Any:
        check_openai_sequence(request.messages)
        last = request.messages[-1].text
        if request.messages[-1].type == "tool":
            return f"Here is what I found: {last}"
        if "Summar" in last or "summary" in last.lower():
            return "Bob introduced himself and asked for poems about cats and dogs."
        if "weather" in last:
            return AIMessage(
                content="", tool_calls=[tool_call("search", {"query": "weather in nyc"})]
            )
        if "broadway" in last.lower():
            return AIMessage(content="", tool_calls=[tool_call("search", {"query": "broadway"})])
        return POEM

    return ScriptedChatModel(
        responder=respond, custom_get_token_ids=lambda text: [0] * len(text.split())
    )


def asked(model: ScriptedChatModel) -> list[list[BaseMessage]]:
    """The message lists the chat model answered (not the summarizer's requests)."""
    return [
        c.request.messages
        for c in model.calls
        if not (c.request.messages[-1].text.startswith(("Summarize", "Summary of the earlier")))
    ]


def test_summarize_messages_in_a_chatbot() -> None:
    model = chat_model()
    summarization_model = model.bind(max_tokens=128)

    class SummaryState(MessagesState):
        summary: RunningSummary | None

    def call_model(state: SummaryState) -> dict[str, Any]:
        summarization_result = summarize_messages(
            state["messages"],
            running_summary=state.get("summary"),
            token_counter=model.get_num_tokens_from_messages,
            model=summarization_model,
            max_tokens=256,
            max_summary_tokens=128,
        )
        response = model.invoke(summarization_result.messages)
        state_update: dict[str, Any] = {"messages": [response]}
        if summarization_result.running_summary:
            state_update["summary"] = summarization_result.running_summary
        return state_update

    checkpointer = InMemorySaver()
    builder = StateGraph(SummaryState)
    builder.add_node(call_model)
    builder.add_edge(START, "call_model")
    graph = builder.compile(checkpointer=checkpointer)

    config: RunnableConfig = {"configurable": {"thread_id": "1"}}
    # As in LangMem's examples, a bare string as the messages update: add_messages accepts it,
    # MessagesState's declared type (a list of messages) does not.
    graph.invoke({"messages": "hi, my name is bob"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "write a short poem about cats"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "now do the same but for dogs"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "what's my name?"}, config)  # type: ignore[call-overload]

    state = graph.get_state(config).values
    assert state["summary"] is not None
    last = asked(model)[-1]
    assert last[-1].text == "what's my name?"
    assert any("Bob introduced himself" in m.text for m in last)


def test_asummarize_messages_docstring_example() -> None:
    model = chat_model()
    summarization_model = model.bind(max_tokens=128)

    class SummaryState(MessagesState):
        summary: RunningSummary | None

    async def call_model(state: SummaryState) -> dict[str, Any]:
        summarization_result = await asummarize_messages(
            state["messages"],
            running_summary=state.get("summary"),
            model=summarization_model,
            max_tokens=256,
            max_tokens_before_summary=256,
            max_summary_tokens=128,
        )
        response = await model.ainvoke(summarization_result.messages)
        state_update: dict[str, Any] = {"messages": [response]}
        if summarization_result.running_summary:
            state_update["summary"] = summarization_result.running_summary
        return state_update

    checkpointer = InMemorySaver()
    workflow = StateGraph(SummaryState)
    workflow.add_node(call_model)
    workflow.add_edge(START, "call_model")
    graph = workflow.compile(checkpointer=checkpointer)

    async def run() -> None:
        config: RunnableConfig = {"configurable": {"thread_id": "1"}}
        # As in LangMem's examples, a bare string as the messages update: add_messages accepts it,
        # MessagesState's declared type (a list of messages) does not.
        await graph.ainvoke({"messages": "hi, my name is bob"}, config)  # type: ignore[call-overload]
        await graph.ainvoke({"messages": "write a short poem about cats"}, config)  # type: ignore[call-overload]
        await graph.ainvoke({"messages": "now do the same but for dogs"}, config)  # type: ignore[call-overload]
        await graph.ainvoke({"messages": "what's my name?"}, config)  # type: ignore[call-overload]

    asyncio.run(run())
    assert asked(model)[-1][-1].text == "what's my name?"
    assert len(asked(model)) == 4 and len(model.calls) > 4  # summarized at least once


def test_summarization_node_in_a_chatbot() -> None:
    model = chat_model()
    summarization_model = model.bind(max_tokens=128)

    class State(MessagesState):
        context: dict[str, Any]

    class LLMInputState(TypedDict):
        summarized_messages: list[AnyMessage]
        context: dict[str, Any]

    summarization_node = SummarizationNode(
        token_counter=model.get_num_tokens_from_messages,
        model=summarization_model,
        max_tokens=256,
        max_summary_tokens=128,
    )

    def call_model(state: LLMInputState) -> dict[str, Any]:
        response = model.invoke(state["summarized_messages"])
        return {"messages": [response]}

    checkpointer = InMemorySaver()
    builder = StateGraph(State)
    builder.add_node(call_model)
    builder.add_node("summarize", summarization_node)
    builder.add_edge(START, "summarize")
    builder.add_edge("summarize", "call_model")
    graph = builder.compile(checkpointer=checkpointer)

    config: RunnableConfig = {"configurable": {"thread_id": "1"}}
    # As in LangMem's examples, a bare string as the messages update: add_messages accepts it,
    # MessagesState's declared type (a list of messages) does not.
    graph.invoke({"messages": "hi, my name is bob"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "write a short poem about cats"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "now do the same but for dogs"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "what's my name?"}, config)  # type: ignore[call-overload]

    state = graph.get_state(config).values
    assert isinstance(state["context"]["running_summary"], RunningSummary)
    assert len(state["messages"]) == 8  # the full history stays in the state
    assert asked(model)[-1][-1].text == "what's my name?"


def test_summarization_node_in_a_react_agent() -> None:
    class State(MessagesState):
        context: dict[str, Any]

    def search(query: str) -> str:
        """Search the web."""
        if "weather" in query.lower():
            return "The weather is sunny in New York, with a high of 104 degrees."
        elif "broadway" in query.lower():
            return "Hamilton is always on!"
        else:
            raise ValueError("Not enough information")

    tools = [search]

    model = chat_model()
    summarization_model = model.bind(max_tokens=128)

    summarization_node = SummarizationNode(
        token_counter=model.get_num_tokens_from_messages,
        model=summarization_model,
        max_tokens=256,
        max_tokens_before_summary=1024,
        max_summary_tokens=128,
    )

    class LLMInputState(TypedDict):
        summarized_messages: list[AnyMessage]
        context: dict[str, Any]

    def call_model(state: LLMInputState) -> dict[str, Any]:
        response = model.bind_tools(tools).invoke(state["summarized_messages"])
        return {"messages": [response]}

    def should_continue(state: MessagesState) -> str:
        messages = state["messages"]
        last_message = messages[-1]
        assert isinstance(last_message, AIMessage)
        if not last_message.tool_calls:
            return END
        else:
            return "tools"

    checkpointer = InMemorySaver()
    builder = StateGraph(State)
    builder.add_node("summarize_node", summarization_node)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode(tools))
    builder.set_entry_point("summarize_node")
    builder.add_edge("summarize_node", "call_model")
    builder.add_conditional_edges("call_model", should_continue, path_map=["tools", END])
    builder.add_edge("tools", "summarize_node")
    graph = builder.compile(checkpointer=checkpointer)

    config: RunnableConfig = {"configurable": {"thread_id": "1"}}
    # As in LangMem's examples, a bare string as the messages update: add_messages accepts it,
    # MessagesState's declared type (a list of messages) does not.
    graph.invoke({"messages": "hi, i am bob"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "what's the weather in nyc this weekend"}, config)  # type: ignore[call-overload]
    graph.invoke({"messages": "what's new on broadway?"}, config)  # type: ignore[call-overload]

    # Every request the agent's model got was valid, and held the question it was answering.
    for messages in asked(model):
        check_openai_sequence(messages)
    assert any(m.text == "what's new on broadway?" for m in asked(model)[-1])
