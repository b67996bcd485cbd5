"""LangMem's background quickstart with only the import changed (and a scripted model)."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langgraph.func import entrypoint
from langgraph.store.memory import InMemoryStore

from reverie import create_memory_store_manager
from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call
from reverie.testing.scripted import Reply


def memory_model() -> ScriptedChatModel:
    def respond(request: ScriptedRequest) -> Reply:
        if "Fido" in request.text:
            return [
                tool_call("Memory", {"content": "User likes dogs"}),
                tool_call("Memory", {"content": "User has a dog named Fido"}),
            ]
        return AIMessage(content="")

    return ScriptedChatModel(responder=respond)


async def test_background_quickstart_stores_the_two_memories() -> None:
    store = InMemoryStore(index={"dims": 64, "embed": HashingEmbeddings(64)})
    llm = ScriptedChatModel(replies=["Fido is a lovely name for a dog!"])
    extraction_model = memory_model()
    memory_manager = create_memory_store_manager(extraction_model, namespace=("memories",))

    @entrypoint(store=store)
    async def chat(message: str) -> str | list[str | dict]:
        response = llm.invoke(message)
        to_process = {"messages": [{"role": "user", "content": message}] + [response]}
        await memory_manager.ainvoke(to_process)
        return response.content

    response = await chat.ainvoke("I like dogs. My dog's name is Fido.")

    assert response == "Fido is a lovely name for a dog!"
    items = store.search(("memories",))
    assert sorted(item.value["content"]["content"] for item in items) == [
        "User has a dog named Fido",
        "User likes dogs",
    ]
    assert all(item.value["kind"] == "Memory" for item in items)
    assert all(item.namespace == ("memories",) for item in items)
    # The model saw the conversation and was offered the Memory tool.
    (call,) = extraction_model.calls
    assert "I like dogs. My dog's name is Fido." in call.request.text
    assert call.request.tool_names == ["Memory"]
