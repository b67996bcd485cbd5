"""Hostile values through every entry point, on every backend (``any_store``: InMemoryStore, the
embedded store, PostgreSQL sync and async).

Each case ends in the documented normalisation (NUL removed, lone surrogates replaced by ``?``)
or a typed error saying what to do; afterwards nothing stored before has changed and the thread
still works (its next ordinary message is sent alone and stored). The durable queue, the CLI
import and the MCP server have their own modules: ``test_hostile_durable``,
``test_hostile_transfer``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from pydantic import ValidationError

from reverie import (
    FilterError,
    InputError,
    LimitError,
    NamespaceError,
    UnstorableValueError,
    create_manage_memory_tool,
    create_search_memory_tool,
)
from reverie.core.ports import NamespaceSearch
from reverie.ledger import port_for
from reverie.testing import tool_call
from tests.helpers import new_conversation
from tests.reliability.hostile import (
    ALICE,
    BAD_IDS,
    HOSTILE_FILTERS,
    MB,
    NON_FINITE,
    NS,
    TEXTS,
    Harness,
    Preference,
    config,
    contents,
    first_reply_then_nothing,
    normalised,
)

TEMPLATE = ("memories", "{langgraph_user_id}")
PREFS = ("prefs", "{langgraph_user_id}")
FIRST = {"role": "user", "content": "I like tea"}
SEEDED = "User is called Alice"


@pytest.fixture
def harness(any_store: BaseStore) -> Harness:
    return Harness(any_store)


# --- text: normalised wherever it enters ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_text_in_a_message_is_stored_normalised_and_the_thread_keeps_working(
    harness: Harness, name: str
) -> None:
    message = {"role": "user", "content": TEXTS[name]}
    manager, model = harness.manager()
    written = manager.invoke({"messages": [message]}, ALICE)
    assert [w["value"]["content"]["content"] for w in written] == [normalised(TEXTS[name])]
    assert f"user: {normalised(TEXTS[name])}" in new_conversation(model.calls[0].request)
    assert contents(harness.store) == sorted([SEEDED, normalised(TEXTS[name])])
    (record,) = manager.history(config=ALICE)
    assert record.after == written[0]["value"]
    # Passed again with the whole thread, the message is known: the progress record was stored.
    harness.check_thread_still_works([message])


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_text_in_model_output_is_stored_normalised_in_default_and_custom_schemas(
    harness: Harness, name: str
) -> None:
    text = TEXTS[name]
    manager, _ = harness.manager(first_reply_then_nothing([tool_call("Memory", {"content": text})]))
    manager.invoke({"messages": [FIRST]}, ALICE)
    assert contents(harness.store) == sorted([SEEDED, normalised(text)])

    custom, _ = harness.manager(
        first_reply_then_nothing([tool_call("Preference", {"topic": text, "weight": 0.5})]),
        schemas=[Preference],
        namespace=PREFS,
    )
    custom.invoke({"messages": [FIRST]}, ALICE)
    assert contents(harness.store, ("prefs", "alice")) == [
        {"topic": normalised(text), "weight": 0.5}
    ]
    harness.check_thread_still_works([FIRST])


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_text_through_the_tools_is_stored_normalised(harness: Harness, name: str) -> None:
    text = TEXTS[name]
    manage = create_manage_memory_tool(TEMPLATE, store=harness.store)
    assert manage.invoke({"content": text}, ALICE).startswith("created memory")
    assert normalised(text) in contents(harness.store)
    search = create_search_memory_tool(TEMPLATE, store=harness.store)
    found = json.loads(search.invoke({"query": text, "filter": {"content": text}}, ALICE))
    assert [f["value"]["content"] for f in found] == [normalised(text)]
    harness.check_thread_still_works([])


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_text_in_an_application_put_is_stored_normalised(harness: Harness, name: str) -> None:
    manager, _ = harness.manager()
    manager.put("k", TEXTS[name], config=ALICE)
    manager.put("d", {"note": TEXTS[name], TEXTS[name]: 1}, config=ALICE)
    item = harness.store.get(NS, "d")
    assert item is not None
    assert item.value == {"note": normalised(TEXTS[name]), normalised(TEXTS[name]): 1}
    assert normalised(TEXTS[name]) in contents(harness.store)
    harness.check_thread_still_works([])


# --- NaN and Infinity: refused, naming the field; the rest of the reply is kept ---------------------


@pytest.mark.parametrize("name", sorted(NON_FINITE))
def test_a_non_finite_number_in_model_output_rejects_that_memory_only(
    harness: Harness, name: str
) -> None:
    calls = [
        tool_call("Preference", {"topic": "tea", "weight": NON_FINITE[name]}),
        tool_call("Preference", {"topic": "jazz", "weight": 0.9}),
    ]
    manager, model = harness.manager(
        first_reply_then_nothing(calls), schemas=[Preference], namespace=PREFS
    )
    written = manager.invoke({"messages": [FIRST]}, ALICE)
    assert [w["value"]["content"] for w in written] == [{"topic": "jazz", "weight": 0.9}]
    assert contents(harness.store, ("prefs", "alice")) == [{"topic": "jazz", "weight": 0.9}]
    assert len(model.calls) == 2  # the answer and one correction request
    assert written.report.rejected_calls == 1
    assert any("weight must be a finite number" in w for w in written.report.warnings)
    harness.check_thread_still_works([FIRST], PREFS)


@pytest.mark.parametrize("name", sorted(NON_FINITE))
def test_a_non_finite_number_through_the_tool_or_a_put_is_refused_naming_the_field(
    harness: Harness, name: str
) -> None:
    manage = create_manage_memory_tool(TEMPLATE, store=harness.store, schema=Preference)
    reply = manage.invoke({"content": {"topic": "tea", "weight": NON_FINITE[name]}}, ALICE)
    assert "content.weight" in reply and "nothing was written" in reply
    manager, _ = harness.manager()
    with pytest.raises(UnstorableValueError) as caught:
        manager.put("k", {"score": NON_FINITE[name]}, config=ALICE)
    assert caught.value.field == "score"
    assert contents(harness.store) == [SEEDED]
    harness.check_thread_still_works([])


# --- sizes: refused before anything is written -----------------------------------------------------


def test_a_twenty_megabyte_memory_is_refused_by_every_writer(harness: Harness) -> None:
    huge = "x" * (20 * MB)
    manage = create_manage_memory_tool(TEMPLATE, store=harness.store)
    reply = manage.invoke({"content": huge}, ALICE)
    assert "at most 65,536" in reply and "Nothing was changed" in reply and len(reply) < 400

    manager, _ = harness.manager(
        first_reply_then_nothing(
            [tool_call("Memory", {"content": huge}), tool_call("Memory", {"content": "tea"})]
        )
    )
    written = manager.invoke({"messages": [FIRST]}, ALICE)
    assert [w["value"]["content"]["content"] for w in written] == ["tea"]
    assert any("a memory may have at most 65,536" in w for w in written.report.warnings)

    with pytest.raises(LimitError) as caught:
        manager.put("k", huge, config=ALICE)
    assert caught.value.limit_name == "max_value_bytes" and caught.value.limit == 65_536
    assert contents(harness.store) == sorted([SEEDED, "tea"])
    harness.check_thread_still_works([FIRST])


def test_a_twenty_megabyte_message_is_cut_to_the_budget(harness: Harness) -> None:
    message = {"role": "user", "content": "I collect stamps. " + "blah " * (4 * MB)}
    manager, model = harness.manager(
        lambda request: tool_call("Memory", {"content": "collects stamps"})
    )
    manager.invoke({"messages": [message]}, ALICE)
    assert model.calls[0].input_tokens < 10_000
    assert contents(harness.store) == sorted([SEEDED, "collects stamps"])
    harness.check_thread_still_works([message])


# --- ids: refused (never changed), before any work ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_IDS))
def test_a_bad_user_id_is_a_namespace_error_before_any_work(harness: Harness, name: str) -> None:
    bad = config(BAD_IDS[name])
    manager, model = harness.manager()
    with pytest.raises(NamespaceError) as caught:
        manager.invoke({"messages": [FIRST]}, bad)
    message = str(caught.value)
    assert "__reverie__" not in message and len(message) < 600
    assert ("bytes" in message) == ("chars" in name)
    assert model.calls == []
    for tool in (
        create_manage_memory_tool(TEMPLATE, store=harness.store),
        create_search_memory_tool(TEMPLATE, store=harness.store),
    ):
        with pytest.raises(NamespaceError):  # the application's setup: raised, not answered
            tool.invoke({"content": "x", "query": "x"}, bad)
    harness.check_thread_still_works([])


@pytest.mark.parametrize(
    "thread_id", ["t\x00", "t\udc80", "t" * 3000], ids=["nul", "lone-surrogate", "3000-chars"]
)
def test_a_bad_thread_id_is_an_input_error_before_any_work(
    harness: Harness, thread_id: str
) -> None:
    manager, model = harness.manager()
    with pytest.raises(InputError, match="thread_id"):
        manager.invoke({"messages": [FIRST]}, config("alice", thread_id))
    assert model.calls == []
    harness.check_thread_still_works([])


@pytest.mark.parametrize("name", sorted(BAD_IDS))
def test_a_bad_memory_id_is_answered_short_and_changes_nothing(harness: Harness, name: str) -> None:
    manage = create_manage_memory_tool(TEMPLATE, store=harness.store)
    for args in (
        {"action": "update", "id": BAD_IDS[name], "content": "x"},
        {"action": "delete", "id": BAD_IDS[name]},
    ):
        reply = manage.invoke(args, ALICE)
        assert "nothing was changed" in reply or "NUL" in reply or "surrogate" in reply
        assert len(reply) < 400
    harness.check_thread_still_works([])


# --- filters and search ranges: one typed error on every backend ---------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE_FILTERS))
def test_a_bad_filter_is_the_same_typed_error_everywhere(harness: Harness, name: str) -> None:
    hostile: Any = HOSTILE_FILTERS[name]
    errors = []
    manager, _ = harness.manager()
    for search in (
        lambda: manager.search(filter=hostile, config=ALICE),
        lambda: port_for(harness.store).batch([NamespaceSearch(NS, filter=hostile)]),
    ):
        with pytest.raises((FilterError, LimitError)) as caught:
            search()
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    assert len(errors[0][1]) < 600
    tool = create_search_memory_tool(TEMPLATE, store=harness.store)
    if name == "not-a-dict":  # the tool's argument schema refuses it, as LangChain does
        with pytest.raises(ValidationError):
            tool.invoke({"query": "tea", "filter": hostile}, ALICE)
    else:
        reply = tool.invoke({"query": "tea", "filter": hostile}, ALICE)
        assert isinstance(reply, str) and reply.startswith(errors[0][1])
    harness.check_thread_still_works([])


def test_a_nul_in_a_filter_is_normalised_like_the_stored_text(harness: Harness) -> None:
    manager, _ = harness.manager()
    manager.put("k", {"ki\x00nd": "p\x00et"}, config=ALICE)
    assert harness.store.get(NS, "k").value == {"kind": "pet"}  # type: ignore[union-attr]
    (found,) = port_for(harness.store).batch([NamespaceSearch(NS, filter={"ki\x00nd": "pe\x00t"})])
    assert [i.key for i in found] == ["k"]  # type: ignore[union-attr]
    assert [i.key for i in manager.search(filter={"kind\x00": "pet"}, config=ALICE)] == ["k"]


@pytest.mark.parametrize(
    ("limit", "offset"),
    [(1, -1), (-1, 0), (2**63, 0), (1, 2**63), (True, 0), (1.5, 0)],
    ids=["offset-1", "limit-1", "limit-2**63", "offset-2**63", "limit-bool", "limit-float"],
)
def test_search_limit_and_offset_out_of_range_are_typed_errors(
    harness: Harness, limit: Any, offset: Any
) -> None:
    request = NamespaceSearch(NS, limit=limit, offset=offset)
    with pytest.raises(InputError, match="limit|offset"):
        port_for(harness.store).batch([request])
    manager, _ = harness.manager()
    with pytest.raises(InputError, match="limit|offset"):
        manager.search(limit=limit, offset=offset, config=ALICE)
    harness.check_thread_still_works([])


def test_a_huge_query_is_refused_and_the_tool_answers_it(harness: Harness) -> None:
    tool = create_search_memory_tool(TEMPLATE, store=harness.store)
    reply = tool.invoke({"query": "tea " * 10_000}, ALICE)
    assert "at most 8,192" in reply
    with pytest.raises(LimitError):
        port_for(harness.store).batch([NamespaceSearch(NS, query="q" * 9000)])
    assert isinstance(tool.invoke({"query": "tea"}, ALICE), str)
