"""One reply that changes one stored memory in contradictory ways (update and forget it, or update
it twice with different content) is never resolved by call order: the calls are sent back for
correction; if the model still contradicts itself the memory is kept as stored, and the report
(or the error, when nothing else was valid) says why. The reply's other calls are applied."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from reverie import ModelOutputError, ReflectionExecutor, create_memory_manager
from reverie import create_memory_store_manager as store_manager
from reverie.core.types import Memory
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from reverie.testing.scripted import Reply
from tests.helpers import alias_of, contents

NS = ("memories", "alice")
TEMPLATE = ("memories", "{langgraph_user_id}")
ALICE: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
SAID = {"messages": [{"role": "user", "content": "I moved to Paris and adopted a cat."}]}
LYON, PARIS, ROME, CAT = (
    "User lives in Lyon",
    "User lives in Paris",
    "User lives in Rome",
    "User has a cat",
)


def seeded(store: BaseStore | None = None, *texts: str) -> BaseStore:
    store = store if store is not None else InMemoryStore(index=hashing_index())
    for n, text in enumerate(texts or (LYON,)):
        store.put(NS, f"seed{n}", {"kind": "Memory", "content": {"content": text}})
    return store


def update(text: str, alias: str = "1") -> dict[str, Any]:
    return tool_call("Memory", {"content": text, "memory_id": alias})


def forget(*aliases: str) -> dict[str, Any]:
    return tool_call("forget", {"ids": list(aliases or ("1",))})


def insert(text: str) -> dict[str, Any]:
    return tool_call("Memory", {"content": text})


def manager(model: ScriptedChatModel, store: BaseStore, **options: Any) -> Any:
    options.setdefault("enable_deletes", True)
    return store_manager(model, namespace=TEMPLATE, store=store, **options)


def correction_text(model: ScriptedChatModel) -> str:
    """What the correction request sent back to the model about its rejected calls."""
    return "\n".join(str(m.content) for m in model.calls[1].request.messages[2:])


def test_update_and_forget_of_one_memory_are_sent_back_and_the_correction_is_applied(
    any_store: BaseStore,
) -> None:
    store = seeded(any_store)
    model = ScriptedChatModel(replies=[[update(PARIS), forget(), insert(CAT)], [update(PARIS)]])
    written = manager(model, store).invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [CAT, PARIS]
    assert len(model.calls) == 2
    text = correction_text(model)
    assert "Memory 1 ('User lives in Lyon'): this reply changes it in contradictory ways" in text
    assert "update to 'User lives in Paris', forget" in text
    assert written.report.rejected_calls == 2 and written.report.deleted == 0
    assert written.report.warnings == []  # the correction settled it


@pytest.mark.parametrize("order", ["update first", "forget first"])
def test_a_model_that_insists_keeps_the_memory_as_stored_and_the_report_says_why(
    any_store: BaseStore, order: str
) -> None:
    store = seeded(any_store)
    calls = [update(PARIS), forget()] if order == "update first" else [forget(), update(PARIS)]
    model = ScriptedChatModel(replies=[[*calls, insert(CAT)]])  # the correction says it again
    written = manager(model, store).invoke(SAID, ALICE)
    # The valid call is applied; the contradicted memory is neither deleted nor overwritten.
    assert contents(store.search(NS)) == [CAT, LYON]
    assert [w["value"]["content"]["content"] for w in written] == [CAT]
    report = written.report
    assert (report.inserted, report.deleted, report.updated + report.superseded) == (1, 0, 0)
    assert report.rejected_calls == 4  # two calls in the answer, two in the correction
    (warning,) = report.warnings
    assert "Memory 1 ('User lives in Lyon')" in warning and "kept as stored" in warning
    assert warning.count("contradictory ways") == 1  # said once, not once per call


def test_two_different_updates_are_sent_back_and_the_chosen_one_is_applied() -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[[update(PARIS), update(ROME)], [update(ROME)]])
    written = manager(model, store).invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [ROME]
    assert "update to 'User lives in Paris', update to 'User lives in Rome'" in (
        correction_text(model)
    )
    assert written.report.rejected_calls == 2


def test_two_different_updates_insisted_on_change_nothing_and_raise_why() -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[[update(PARIS), update(ROME)]])
    with pytest.raises(ModelOutputError, match="contradictory ways") as caught:
        manager(model, store, enable_deletes=False).invoke(SAID, ALICE)
    assert "nothing was written" in str(caught.value) and "kept as stored" in str(caught.value)
    assert "or forget" not in str(caught.value)  # deletes are disabled: not offered
    assert contents(store.search(NS)) == [LYON]


def test_repeating_the_same_change_is_no_contradiction() -> None:
    store = seeded(None, LYON, "User plays the cello")

    def respond(request: ScriptedRequest) -> Reply:
        lyon, cello = alias_of(request, "Lyon"), alias_of(request, "cello")
        return [update(PARIS, lyon), update(PARIS, lyon), forget(cello), forget(cello, cello)]

    model = ScriptedChatModel(responder=respond)
    written = manager(model, store).invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [PARIS]
    assert len(model.calls) == 1 and written.report.rejected_calls == 0


def test_a_correction_may_not_undo_a_change_already_accepted() -> None:
    store = seeded(None, LYON, "User plays the cello")

    def respond(request: ScriptedRequest) -> Reply:
        lyon = alias_of(request, "Lyon")
        if len(request.messages) == 2:  # the answer: a valid update and an invalid (empty) call
            return [update(PARIS, lyon), insert(" ")]
        return [forget(lyon), insert(CAT)]  # the correction forgets what it just updated

    model = ScriptedChatModel(responder=respond)
    written = manager(model, store).invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [CAT, PARIS, "User plays the cello"]
    assert any("was already changed by an accepted call" in w for w in written.report.warnings)
    assert written.report.deleted == 0


def test_a_forget_of_several_ids_that_contradicts_an_update_is_rejected_whole() -> None:
    store = seeded(None, LYON, "User plays the cello")

    def respond(request: ScriptedRequest) -> Reply:
        if len(request.messages) > 2:
            return AIMessage(content="")  # the model leaves the rejected calls out
        lyon, cello = alias_of(request, "Lyon"), alias_of(request, "cello")
        return [update(PARIS, lyon), forget(lyon, cello), insert(CAT)]

    model = ScriptedChatModel(responder=respond)
    written = manager(model, store).invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [CAT, LYON, "User plays the cello"]
    assert "were not forgotten either" in correction_text(model)
    assert written.report.rejected_calls == 2 and written.report.deleted == 0


def answer(*calls: dict[str, Any]) -> str:
    """A JSON-mode answer holding ``calls`` (tool-call dicts)."""
    return json.dumps({"calls": [{"name": c["name"], "arguments": c["args"]} for c in calls]})


def test_the_rule_is_the_same_in_json_mode() -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[answer(update(PARIS), forget()), answer(update(PARIS))])
    manager(model, store, extraction_mode="json_schema").invoke(SAID, ALICE)
    assert contents(store.search(NS)) == [PARIS]
    assert "contradictory ways" in correction_text(model)


async def test_the_rule_is_the_same_for_the_async_driver() -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[[forget(), update(PARIS), insert(CAT)]])
    written = await manager(model, store).ainvoke(SAID, ALICE)
    assert contents(store.search(NS)) == [CAT, LYON]
    assert any("kept as stored" in w for w in written.report.warnings)


def test_the_rule_is_the_same_in_the_background() -> None:
    store = seeded()
    model = ScriptedChatModel(replies=[[update(PARIS), forget(), insert(CAT)]])
    with ReflectionExecutor(manager(model, store), store=store) as executor:
        written = executor.submit(SAID, ALICE).result(timeout=30)
    assert contents(store.search(NS)) == [CAT, LYON]
    assert any("kept as stored" in w for w in written.report.warnings)


def test_the_plain_memory_manager_follows_the_same_rule() -> None:
    model = ScriptedChatModel(replies=[[update(PARIS), forget(), insert(CAT)], [update(PARIS)]])
    plain = create_memory_manager(model, enable_deletes=True)
    result = plain.invoke({**SAID, "existing": [("seed", Memory(content=LYON))]})
    by_id = {m.id: m.content for m in result}
    assert by_id["seed"] == Memory(content=PARIS)  # updated, not removed
    assert sorted(str(getattr(c, "content", c)) for c in by_id.values()) == [CAT, PARIS]
    assert result.report.rejected_calls == 2
