"""Odd and hostile input: each case has a defined outcome and never a partial write."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from reverie import ConfigurationError, InputError, NamespaceError, create_memory_store_manager
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import new_conversation

ALICE: RunnableConfig = {"configurable": {"langgraph_user_id": "alice", "thread_id": "t"}}
NS = ("memories", "alice")
SEED = {"kind": "Memory", "content": {"content": "User is called Alice"}}


def _seeded(store: BaseStore) -> BaseStore:
    store.put(NS, "seed", SEED)
    return store


def _snapshot(store: BaseStore) -> list[tuple]:
    """Every item Reverie can see, bookkeeping included."""
    return sorted(
        (tuple(i.namespace), i.key, json.dumps(i.value, sort_keys=True))
        for ns in store.list_namespaces(limit=1000)
        for i in store.search(ns, limit=1000)
    )


def _echo_user_text(request: ScriptedRequest) -> Reply:
    calls: list[dict[str, Any]] = []
    for line in new_conversation(request).splitlines():
        if line.startswith("user: "):
            calls.append(tool_call("Memory", {"content": line[6:]}))
    return calls or AIMessage(content="")


@pytest.mark.parametrize(
    "payload",
    [{"messages": []}, [], {"messages": [{"role": "system", "content": "You are helpful."}]}],
    ids=["empty-dict", "empty-list", "system-only"],
)
def test_nothing_to_read_means_no_model_call_and_no_write(
    any_store: BaseStore, payload: object
) -> None:
    _seeded(any_store)
    before = _snapshot(any_store)
    model = ScriptedChatModel(responder=_echo_user_text)
    assert create_memory_store_manager(model, store=any_store).invoke(payload, ALICE) == []
    assert model.calls == []
    assert _snapshot(any_store) == before


def test_multimodal_parts_become_markers(any_store: BaseStore) -> None:
    blob = "data:image/png;base64," + "iVBORw0KGgo" * 5000
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "This is my new dog Rex."},
            {"type": "image_url", "image_url": {"url": blob}},
            {"type": "audio", "data": "AAAA"},
        ],
    }
    model = ScriptedChatModel(responder=_echo_user_text)
    create_memory_store_manager(model, store=any_store).invoke({"messages": [message]}, ALICE)
    (call,) = model.calls
    assert "user: This is my new dog Rex. [image_url] [audio]" in call.request.text
    assert "iVBORw0KGgo" not in call.request.text  # the image's bytes never reach the prompt
    (item,) = any_store.search(NS)
    assert item.value["content"]["content"] == "This is my new dog Rex. [image_url] [audio]"


def test_non_ascii_kept_exactly_and_lone_surrogates_stored_cleanly(any_store: BaseStore) -> None:
    text = "Zoë moved to 東京 🎌 and says naïve \ud800 things \udce9"
    # The model echoes the raw text, surrogates included, as a careless model might.
    model = ScriptedChatModel(responder=lambda r: tool_call("Memory", {"content": text}))
    manager = create_memory_store_manager(model, store=any_store)
    manager.invoke({"messages": [{"role": "user", "content": text}]}, ALICE)
    assert "Zoë moved to 東京 🎌 and says naïve ? things ?" in model.calls[0].request.text
    (item,) = any_store.search(NS)
    stored = item.value["content"]["content"]
    assert stored == "Zoë moved to 東京 🎌 and says naïve ? things ?"
    json.dumps(item.value).encode("utf-8")  # encodable by every backend
    (record,) = manager.history(config=ALICE)
    assert record.after == item.value


def test_a_one_megabyte_message_is_truncated_with_a_note_within_budget(
    any_store: BaseStore,
) -> None:
    huge = "I collect stamps. " + "blah " * 210_000  # just over 1 MB
    model = ScriptedChatModel(
        responder=lambda r: tool_call("Memory", {"content": "collects stamps"})
    )
    manager = create_memory_store_manager(model, store=any_store, token_budget=3000)
    manager.invoke({"messages": [{"role": "user", "content": huge}]}, ALICE)
    (call,) = model.calls
    assert call.input_tokens < 3000
    assert "user: I collect stamps. blah" in call.request.text
    assert re.search(r"\[…message truncated: \d{7} characters omitted\]", call.request.text)
    assert [i.value["content"]["content"] for i in any_store.search(NS)] == ["collects stamps"]


def test_ten_thousand_messages_are_consolidated_in_chunks_each_once(any_store: BaseStore) -> None:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} about topic {i}"}
        for i in range(10_000)
    ]
    model = ScriptedChatModel(responder=lambda r: AIMessage(content=""))
    manager = create_memory_store_manager(model, store=any_store, token_budget=6000)
    manager.invoke({"messages": messages}, ALICE)
    assert len(model.calls) > 10  # processed in several rounds, none dropped
    assert all(c.input_tokens < 6000 for c in model.calls)
    seen = [
        int(line.split()[2])
        for c in model.calls
        for line in new_conversation(c.request).splitlines()
        if line.startswith(("user: message", "assistant: message"))
    ]
    assert seen == list(range(10_000))  # every message exactly once, in order

    # The same thread again with one new message: only that message is sent, even though the
    # thread is longer than the fingerprints kept per thread.
    model.reset()
    messages.append({"role": "user", "content": "I also like jazz"})
    manager.invoke({"messages": messages}, ALICE)
    (call,) = model.calls
    assert new_conversation(call.request).strip() == "user: I also like jazz"


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (5, ConfigurationError, r"config must be a dict like \{'configurable'.*got int"),
        (
            {"configurable": "alice"},
            ConfigurationError,
            r"config\['configurable'\] must be a dict, got str\. Pass config=",
        ),
        (
            {"configurable": {"user": "alice"}},
            NamespaceError,
            r"needs 'langgraph_user_id'\. Set it with config=\{'configurable': \{'langgraph_user_id'",
        ),
        (None, NamespaceError, r"needs 'langgraph_user_id'"),
        (
            {"configurable": {"langgraph_user_id": ""}},
            NamespaceError,
            r"\(from 'langgraph_user_id'\) label is empty.*non-empty",
        ),
        (
            {"configurable": {"langgraph_user_id": "alice.smith"}},
            NamespaceError,
            r"\(from 'langgraph_user_id'\) label 'alice\.smith' contains '\.'.*Replace dots",
        ),
    ],
    ids=["int", "configurable-str", "missing-user", "no-config", "empty", "dots"],
)
def test_wrong_config_is_a_typed_error_before_any_work(
    any_store: BaseStore, config: object, error: type[Exception], message: str
) -> None:
    _seeded(any_store)
    before = _snapshot(any_store)
    model = ScriptedChatModel(responder=_echo_user_text)
    manager = create_memory_store_manager(model, store=any_store)
    with pytest.raises(error, match=message):
        manager.invoke(
            {"messages": [{"role": "user", "content": "I like tea"}]},
            config,  # type: ignore[arg-type]  # some cases are deliberately not configs
        )
    assert model.calls == []
    assert _snapshot(any_store) == before


def test_reserved_first_label_in_a_template(any_store: BaseStore) -> None:
    model = ScriptedChatModel(responder=_echo_user_text)
    manager = create_memory_store_manager(
        model, store=any_store, namespace=("{langgraph_user_id}",)
    )
    with pytest.raises(NamespaceError, match=r"\(from 'langgraph_user_id'\): Reverie keeps"):
        manager.invoke(
            [("user", "I like tea")], {"configurable": {"langgraph_user_id": "__reverie__"}}
        )
    with pytest.raises(NamespaceError, match="may not start with '__reverie__'"):
        create_memory_store_manager(model, store=any_store, namespace=("__reverie__", "x"))


def test_slashes_are_ordinary_characters_in_labels(any_store: BaseStore) -> None:
    """A user id with slashes is one label: it never reaches another user's namespace."""
    any_store.put(("memories", "team"), "k", SEED)
    model = ScriptedChatModel(responder=_echo_user_text)
    manager = create_memory_store_manager(model, store=any_store)
    config: RunnableConfig = {"configurable": {"langgraph_user_id": "team/alice"}}
    manager.invoke([("user", "I like tea")], config)
    assert manager.get_namespace(config) == ("memories", "team/alice")
    assert [i.value["content"]["content"] for i in manager.search(config=config)] == ["I like tea"]
    assert [i.key for i in any_store.search(("memories", "team"))] == ["k"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (5, r"Input must be \{'messages': \[...\]\} or a list of messages, got int"),
        ({"msgs": []}, r"Input has no 'messages' \(keys: \['msgs'\]\)\. Pass \{'messages'"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, r"A message could not be read"),
        ({"messages": 7}, r"'messages' must be a list of messages, got int"),
    ],
    ids=["int", "no-messages-key", "bad-role", "messages-int"],
)
def test_malformed_input_is_an_input_error_before_any_work(
    any_store: BaseStore, payload: object, message: str
) -> None:
    _seeded(any_store)
    before = _snapshot(any_store)
    model = ScriptedChatModel(responder=_echo_user_text)
    with pytest.raises(InputError, match=message):
        create_memory_store_manager(model, store=any_store).invoke(payload, ALICE)
    assert model.calls == []
    assert _snapshot(any_store) == before
