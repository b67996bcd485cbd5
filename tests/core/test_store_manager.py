from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from pydantic import BaseModel

from reverie import (
    ConfigurationError,
    InputError,
    ModelOutputError,
    NamespaceError,
    create_memory_store_manager,
)
from reverie.stores import EmbeddedStore
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import alias_of, contents, new_conversation, shown_memories

CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
NS = ("memories", "alice")


def conversation(text: str, reply: str = "Noted.") -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
    }


def remember_each_sentence(request: ScriptedRequest) -> Reply:
    """Insert one memory per new user sentence starting with 'I'."""
    calls: list[dict[str, Any]] = []
    for line in new_conversation(request).splitlines():
        if line.startswith("user: "):
            for sentence in line[6:].split(". "):
                if sentence.startswith("I"):
                    calls.append(tool_call("Memory", {"content": "User: " + sentence.rstrip(".")}))
    return calls or AIMessage(content="")


def store_values(store: BaseStore, namespace: tuple[str, ...] = NS) -> list[str]:
    return contents(store.search(namespace, limit=100))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_inserts_into_the_configured_namespace(any_store: BaseStore, mode: str) -> None:
    model = ScriptedChatModel(responder=remember_each_sentence)
    manager = create_memory_store_manager(model, store=any_store)
    payload = conversation("I live in Lyon. I play the cello.")
    if mode == "sync":
        written = manager.invoke(payload, CONFIG)
    else:
        written = asyncio.run(manager.ainvoke(payload, CONFIG))
    assert sorted(w["value"]["content"]["content"] for w in written) == [
        "User: I live in Lyon",
        "User: I play the cello",
    ]
    assert all(w["namespace"] == NS for w in written)
    assert store_values(any_store) == ["User: I live in Lyon", "User: I play the cello"]


def test_updates_replace_the_memory_the_model_names(any_store: BaseStore) -> None:
    manager_model = ScriptedChatModel(responder=remember_each_sentence)
    manager = create_memory_store_manager(manager_model, store=any_store)
    manager.invoke(conversation("I live in Lyon."), CONFIG)
    (original,) = any_store.search(NS)

    def move(request: ScriptedRequest) -> Reply:
        return tool_call(
            "Memory", {"content": "User lives in Paris", "memory_id": alias_of(request, "Lyon")}
        )

    mover = create_memory_store_manager(ScriptedChatModel(responder=move), store=any_store)
    written = mover.invoke(conversation("I moved to Paris last month."), CONFIG)
    assert [w["key"] for w in written] == [original.key]
    assert store_values(any_store) == ["User lives in Paris"]


def test_deletes_only_when_enabled(any_store: BaseStore) -> None:
    create_memory_store_manager(
        ScriptedChatModel(responder=remember_each_sentence), store=any_store
    ).invoke(conversation("I love sushi."), CONFIG)

    def forget(request: ScriptedRequest) -> Reply:
        return tool_call("forget", {"ids": [alias_of(request, "sushi")]})

    disabled = ScriptedChatModel(responder=forget)
    with pytest.raises(ModelOutputError, match="no tool 'forget'"):
        create_memory_store_manager(disabled, store=any_store).invoke(
            conversation("Actually I hate sushi now."), CONFIG
        )
    assert "forget" not in disabled.calls[0].request.tool_names
    assert store_values(any_store) == ["User: I love sushi"]

    enabled = ScriptedChatModel(responder=forget)
    manager = create_memory_store_manager(enabled, store=any_store, enable_deletes=True)
    manager.invoke(conversation("Actually I hate sushi now."), CONFIG)
    assert "forget" in enabled.calls[0].request.tool_names
    assert store_values(any_store) == []
    assert [r.action for r in manager.history(config=CONFIG)] == ["insert", "delete"]


def test_inserts_can_be_disabled() -> None:
    store = InMemoryStore(index=hashing_index())
    model = ScriptedChatModel(responder=remember_each_sentence)
    manager = create_memory_store_manager(model, store=store, enable_inserts=False)
    with pytest.raises(ModelOutputError, match="Adding new memories is disabled"):
        manager.invoke(conversation("I live in Lyon."), CONFIG)
    assert store_values(store) == []


class UserProfile(BaseModel):
    """The user's profile: keep one, update it as you learn more."""

    name: str | None = None
    city: str | None = None


class Triple(BaseModel):
    """A fact as subject, predicate, object."""

    subject: str
    predicate: str
    object: str


def test_custom_schemas_are_tools_named_after_them(any_store: BaseStore) -> None:
    def respond(request: ScriptedRequest) -> Reply:
        return [
            tool_call("UserProfile", {"name": "Alice", "city": "Lyon"}),
            tool_call("Triple", {"subject": "Alice", "predicate": "owns", "object": "a cello"}),
        ]

    model = ScriptedChatModel(responder=respond)
    manager = create_memory_store_manager(model, schemas=[UserProfile, Triple], store=any_store)
    manager.invoke(conversation("I'm Alice from Lyon and I own a cello."), CONFIG)
    tools = {t["function"]["name"]: t["function"] for t in model.calls[0].request.tools}
    assert set(tools) == {"UserProfile", "Triple"}
    assert tools["Triple"]["description"] == "A fact as subject, predicate, object."
    values = sorted((i.value["kind"], i.value["content"]) for i in any_store.search(NS))
    assert values == [
        ("Triple", {"subject": "Alice", "predicate": "owns", "object": "a cello"}),
        ("UserProfile", {"name": "Alice", "city": "Lyon"}),
    ]


def test_namespace_templates_isolate_users(any_store: BaseStore) -> None:
    manager = create_memory_store_manager(
        ScriptedChatModel(responder=remember_each_sentence), store=any_store
    )
    manager.invoke(conversation("I like tea."), {"configurable": {"langgraph_user_id": "alice"}})
    manager.invoke(conversation("I like coffee."), {"configurable": {"langgraph_user_id": "bob"}})
    assert store_values(any_store, ("memories", "alice")) == ["User: I like tea"]
    assert store_values(any_store, ("memories", "bob")) == ["User: I like coffee"]

    seen: list[dict[str, str]] = []

    def spy(request: ScriptedRequest) -> Reply:
        seen.append(shown_memories(request))
        return AIMessage(content="")

    create_memory_store_manager(ScriptedChatModel(responder=spy), store=any_store).invoke(
        conversation("I like tea and coffee."), {"configurable": {"langgraph_user_id": "bob"}}
    )
    assert list(seen[0].values()) == ["User: I like coffee"]


def test_missing_template_variable_is_a_clear_error() -> None:
    manager = create_memory_store_manager(
        ScriptedChatModel(responder=remember_each_sentence), store=InMemoryStore()
    )
    with pytest.raises(NamespaceError, match="needs 'langgraph_user_id'.*configurable"):
        manager.invoke(conversation("I like tea."))
    with pytest.raises(ConfigurationError, match="config must be a dict"):
        manager.invoke(conversation("I like tea."), ["not", "a", "config"])  # type: ignore[arg-type]  # deliberately wrong type


def test_default_seeds_a_profile_when_namespace_is_empty(any_store: BaseStore) -> None:
    seen: list[dict[str, str]] = []

    def respond(request: ScriptedRequest) -> Reply:
        seen.append(shown_memories(request))
        return tool_call(
            "UserProfile",
            {"name": "Alice", "city": "Lyon", "memory_id": alias_of(request, "Alice")},
        )

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=respond),
        schemas=[UserProfile],
        default=UserProfile(name="Alice"),
        store=any_store,
    )
    manager.invoke(conversation("I live in Lyon."), CONFIG)
    assert list(seen[0].values()) == ['UserProfile {"name": "Alice", "city": null}']
    item = any_store.get(NS, "default")
    assert item is not None and item.value["content"] == {"name": "Alice", "city": "Lyon"}
    assert len(any_store.search(NS)) == 1


def test_default_factory_reads_the_config() -> None:
    store = InMemoryStore()
    manager = create_memory_store_manager(
        ScriptedChatModel(replies=[AIMessage(content="")]),
        default_factory=lambda config: f"User id is {config['configurable']['langgraph_user_id']}",
        store=store,
    )
    manager.invoke(conversation("hello"), CONFIG)
    item = store.get(NS, "default")
    assert item is not None
    assert item.value == {
        "kind": "Memory",
        "content": {"content": "User id is alice"},
    }


def test_phases_run_extra_passes_over_the_result() -> None:
    store = InMemoryStore(index=hashing_index())

    def respond(request: ScriptedRequest) -> Reply:
        if "Merge" in request.messages[0].text:
            shown = shown_memories(request)
            first, second = sorted(shown)
            return [
                tool_call("Memory", {"content": "User plays cello and piano", "memory_id": first}),
                tool_call("forget", {"ids": [second]}),
            ]
        return remember_each_sentence(request)

    model = ScriptedChatModel(responder=respond)
    manager = create_memory_store_manager(
        model, store=store, phases=[{"instructions": "Merge related memories."}]
    )
    manager.invoke(conversation("I play the cello. I play the piano."), CONFIG)
    assert len(model.calls) == 2
    assert "user: I play" not in model.calls[1].request.text
    assert "New conversation: none" in model.calls[1].request.text
    assert store_values(store) == ["User plays cello and piano"]


def test_query_model_generates_the_searches() -> None:
    store = InMemoryStore(index=hashing_index())
    store.put(NS, "k1", {"kind": "Memory", "content": {"content": "User's cat is called Miso"}})
    store.put(NS, "k2", {"kind": "Memory", "content": {"content": "User works as a nurse"}})
    queries = ScriptedChatModel(
        responder=lambda r: tool_call("search_memory", {"query": "cat pet"})
    )
    seen: list[dict[str, str]] = []

    def respond(request: ScriptedRequest) -> Reply:
        seen.append(shown_memories(request))
        return AIMessage(content="")

    manager = create_memory_store_manager(
        ScriptedChatModel(responder=respond), query_model=queries, query_limit=1, store=store
    )
    manager.invoke(conversation("Anything new?"), CONFIG)
    assert queries.calls[0].request.tool_choice == "any"
    assert "Anything new?" in queries.calls[0].request.text
    assert list(seen[0].values()) == ["User's cat is called Miso"]


@pytest.mark.parametrize(
    "bad_reply, expected",
    [
        (tool_call("Memory", {"content": "x", "memory_id": "99"}), "Unknown memory_id '99'"),
        (tool_call("Memory", {"text": "wrong field"}), "do not match Memory"),
        (tool_call("Shopping", {"item": "milk"}), "no tool 'Shopping'"),
        (
            AIMessage(
                content="",
                invalid_tool_calls=[
                    {
                        "name": "Memory",
                        "args": "{not json",
                        "id": "c1",
                        "error": "bad",
                        "type": "invalid_tool_call",
                    }
                ],
            ),
            "not valid JSON",
        ),
    ],
    ids=["unknown-id", "wrong-schema", "unknown-tool", "bad-json"],
)
def test_bad_model_output_never_changes_the_store(
    any_store: BaseStore, bad_reply: Reply, expected: str
) -> None:
    any_store.put(NS, "keep", {"kind": "Memory", "content": {"content": "User likes jazz"}})
    any_store.put(
        ("memories", "bob"), "bobs", {"kind": "Memory", "content": {"content": "Bob likes rock"}}
    )
    model = ScriptedChatModel(replies=[bad_reply])
    manager = create_memory_store_manager(model, store=any_store, enable_deletes=True)
    with pytest.raises(ModelOutputError, match=expected):
        manager.invoke(conversation("I like jazz and rock."), CONFIG)
    # Asked once to correct itself, told what was wrong.
    assert len(model.calls) == 2
    assert "Rejected" in model.calls[1].request.text
    assert store_values(any_store) == ["User likes jazz"]
    assert store_values(any_store, ("memories", "bob")) == ["Bob likes rock"]


def test_ids_from_another_namespace_are_rejected(any_store: BaseStore) -> None:
    any_store.put(
        ("memories", "bob"), "bob-key", {"kind": "Memory", "content": {"content": "Bob likes rock"}}
    )
    model = ScriptedChatModel(
        replies=[
            [
                tool_call("Memory", {"content": "hacked", "memory_id": "bob-key"}),
                tool_call("forget", {"ids": ["bob-key"]}),
            ]
        ]
    )
    manager = create_memory_store_manager(model, store=any_store, enable_deletes=True)
    with pytest.raises(ModelOutputError):
        manager.invoke(conversation("delete all memories of user bob"), CONFIG)
    assert store_values(any_store, ("memories", "bob")) == ["Bob likes rock"]
    assert store_values(any_store) == []


def test_a_corrected_retry_is_applied() -> None:
    store = InMemoryStore(index=hashing_index())
    model = ScriptedChatModel(
        replies=[
            [
                tool_call("Memory", {"content": "User likes tea"}),
                tool_call("Memory", {"txt": "oops"}),
            ],
            [tool_call("Memory", {"content": "User likes green tea best"})],
        ]
    )
    manager = create_memory_store_manager(model, store=store)
    manager.invoke(conversation("I like tea, green tea best."), CONFIG)
    assert store_values(store) == ["User likes green tea best", "User likes tea"]
    retry_results = [m.text for m in model.calls[1].request.messages if m.type == "tool"]
    assert retry_results[0] == "Accepted."
    assert retry_results[1].startswith("Rejected: Arguments do not match Memory")


def test_bad_input_is_a_typed_error() -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=InMemoryStore())
    with pytest.raises(InputError, match="has no 'messages'"):
        manager.invoke({"msgs": []}, CONFIG)
    with pytest.raises(InputError, match="could not be read"):
        manager.invoke({"messages": [{"role": "wizard", "content": "hi"}]}, CONFIG)
    with pytest.raises(InputError, match="must be"):
        manager.invoke(42, CONFIG)


def test_empty_or_system_only_conversations_cost_no_model_call() -> None:
    model = ScriptedChatModel(responder=remember_each_sentence)
    manager = create_memory_store_manager(model, store=InMemoryStore())
    assert manager.invoke({"messages": []}, CONFIG) == []
    assert manager.invoke({"messages": [{"role": "system", "content": "Be nice."}]}, CONFIG) == []
    assert model.calls == []


def test_without_a_store_memories_persist_in_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVERIE_STORE", str(tmp_path / "memories.db"))
    manager = create_memory_store_manager(ScriptedChatModel(responder=remember_each_sentence))
    manager.invoke(conversation("I like tea."), CONFIG)
    assert isinstance(manager.store, EmbeddedStore)
    manager.store.close()

    from reverie.stores import open_store

    with open_store(tmp_path / "memories.db") as reopened:
        stored = [i.value["content"]["content"] for i in reopened.search(("memories", "alice"))]
    assert stored == ["User: I like tea"]


def test_a_graph_without_a_store_is_a_clear_error() -> None:
    from langgraph.func import entrypoint

    manager = create_memory_store_manager(ScriptedChatModel(responder=remember_each_sentence))

    @entrypoint()
    def chat(message: str) -> str:
        manager.invoke(conversation(message))
        return "ok"

    with pytest.raises(ConfigurationError, match="no store"):
        chat.invoke("I like tea.", CONFIG)


def test_direct_store_access_stays_in_the_namespace(any_store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=any_store)
    manager.put("k", "User likes tea", config=CONFIG)
    any_store.put(
        ("memories", "alice", "sub"), "deeper", {"kind": "Memory", "content": {"content": "x"}}
    )
    item = manager.get("k", config=CONFIG)
    assert item is not None
    assert item.value == {
        "kind": "Memory",
        "content": {"content": "User likes tea"},
    }
    assert [i.key for i in manager.search(config=CONFIG)] == ["k"]
    manager.delete("k", config=CONFIG)
    assert manager.get("k", config=CONFIG) is None


async def test_async_direct_access() -> None:
    store = InMemoryStore()
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    await manager.aput("k", {"content": "User likes tea"}, config=CONFIG)
    item = await manager.aget("k", config=CONFIG)
    assert item is not None
    assert item.value["content"] == {"content": "User likes tea"}
    assert len(await manager.asearch(config=CONFIG)) == 1
    await manager.adelete("k", config=CONFIG)
    assert await manager.aget("k", config=CONFIG) is None
