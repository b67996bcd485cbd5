"""Property: whatever the model replies, the store only changes as the shown ids and enabled
actions allow.

Alice has three readable memories (shown to the model as aliases) and one in LangMem's tool format
that this manager does not read (so never shown); bob has two. The model's two replies (the answer
and the answer to the correction request) are drawn at random: tool calls with random names,
arguments, ids (shown aliases, unshown aliases, real keys of alice or bob, junk), extra fields,
invalid JSON and huge or non-UTF-8-encodable strings.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from reverie import HistoryRecord, ModelOutputError, create_memory_store_manager
from reverie.core.text import clean_text
from reverie.testing import ScriptedChatModel, hashing_index
from tests.helpers import shown_memories

ALICE = ("memories", "alice")
BOB = ("memories", "bob")
CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
ALICE_KEYS = {
    "a-0000-0001": "Alice lives in Lyon",
    "a-0000-0002": "Alice plays the cello",
    "a-0000-0003": "Alice has a cat named Miso",
}
UNSHOWN_KEY = "a-0000-0009"  # tool-format value: not readable by the manager, never shown
BOB_KEYS = {"b-0000-0001": "Bob's PIN is 4321", "b-0000-0002": "Bob lives in Oslo"}

texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs", "Lo", "So", "Ll"]), max_size=20),
    st.builds(
        lambda s, n: s * n, st.sampled_from(["x", "é", "東", "\ud800"]), st.integers(1, 120_000)
    ),
)
ids = st.one_of(
    st.sampled_from(["1", "2", "3", "4", "0", "99", "", " 1", "[1]"]),
    st.sampled_from([*ALICE_KEYS, UNSHOWN_KEY, *BOB_KEYS]),
    st.integers(-2, 5),
    st.none(),
    texts,
)
non_text = st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=3))
junk = st.one_of(non_text, texts)


@st.composite
def memory_call(draw: st.DrawFn) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if draw(st.integers(0, 5)):  # mostly well-formed content, sometimes missing or junk
        args["content"] = draw(st.one_of(texts, texts, texts, junk))
    if draw(st.booleans()):
        args["memory_id"] = draw(st.one_of(st.sampled_from(["1", "2", "3"]), ids))
    if not draw(st.integers(0, 3)):
        args[draw(st.sampled_from(["namespace", "key", "user", "kind", "ids"]))] = draw(junk)
    return {"name": "Memory", "args": args}


@st.composite
def forget_call(draw: st.DrawFn) -> dict[str, Any]:
    shown_or_not = st.one_of(st.sampled_from(["1", "2", "3"]), ids)
    args: dict[str, Any] = {"ids": draw(st.one_of(st.lists(shown_or_not, max_size=4), ids))}
    if draw(st.booleans()):
        args["namespace"] = ["memories", "bob"]
    return {"name": "forget", "args": args}


other_call = st.builds(
    lambda name, args: {"name": name, "args": args},
    st.one_of(st.sampled_from(["memory", "Memory ", "delete", "update", "search_memory"]), texts),
    st.dictionaries(st.text(max_size=10), junk, max_size=3),
)
bad_json = st.builds(
    lambda name, raw: {"bad": True, "name": name, "args": raw},
    st.sampled_from(["Memory", "forget", "x"]),
    st.sampled_from(['{"content": "unterminated', "not json", "[1, 2", "", "{'a': 1}"]),
)


def to_reply(calls: list[dict[str, Any]], tag: str) -> AIMessage:
    good, bad = [], []
    for n, call in enumerate(calls):
        call_id = f"{tag}{n}"
        if call.get("bad"):
            bad.append(
                {
                    "name": call["name"],
                    "args": call["args"],
                    "id": call_id,
                    "error": "bad json",
                    "type": "invalid_tool_call",
                }
            )
        else:
            good.append(
                {"name": call["name"], "args": call["args"], "id": call_id, "type": "tool_call"}
            )
    return AIMessage(content="", tool_calls=good, invalid_tool_calls=bad)


replies = st.lists(
    st.one_of(memory_call(), memory_call(), forget_call(), other_call, bad_json), max_size=6
)


_EXAMPLES = itertools.count()


def _seed(store: BaseStore, alice: tuple[str, ...], bob: tuple[str, ...]) -> None:
    for key, text in ALICE_KEYS.items():
        store.put(alice, key, {"kind": "Memory", "content": {"content": text}})
    store.put(alice, UNSHOWN_KEY, {"content": "tool-format memory, not for this manager"})
    for key, text in BOB_KEYS.items():
        store.put(bob, key, {"kind": "Memory", "content": {"content": text}})


# (ALICE or BOB, key) -> value
Snapshot = dict[tuple[tuple[str, ...], str], dict[str, Any]]


def _everything(store: BaseStore, alice: tuple[str, ...], bob: tuple[str, ...]) -> Snapshot:
    """This example's memories, keyed by (ALICE or BOB, key)."""
    return {
        (label, i.key): i.value
        for label, namespace in ((ALICE, alice), (BOB, bob))
        for i in store.search(namespace, limit=1000)
        if tuple(i.namespace) == namespace
    }


def _run(
    store: BaseStore,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    inserts: bool,
    deletes: bool,
) -> tuple[
    Snapshot,
    Snapshot,
    ModelOutputError | None,
    ScriptedChatModel,
    list[HistoryRecord],
    set[tuple[str, ...]],
]:
    """Run one drawn model behaviour on a fresh pair of users in ``store``.

    Returns (before, after, error, model, history, namespaces that appeared).
    """
    n = next(_EXAMPLES)
    alice, bob = ("memories", f"alice{n}"), ("memories", f"bob{n}")
    config: RunnableConfig = {"configurable": {"langgraph_user_id": f"alice{n}"}}
    _seed(store, alice, bob)
    spaces = set(store.list_namespaces(prefix=("memories",), limit=100_000))
    before = _everything(store, alice, bob)
    model = ScriptedChatModel(replies=[to_reply(first, "a"), to_reply(second, "b")])
    manager = create_memory_store_manager(
        model, store=store, enable_inserts=inserts, enable_deletes=deletes, query_limit=10
    )
    error: ModelOutputError | None = None
    try:
        manager.invoke({"messages": [{"role": "user", "content": "Lyon cello cat Miso"}]}, config)
    except ModelOutputError as exc:
        error = exc
    after = _everything(store, alice, bob)
    history = manager.history(config=config, limit=None)
    appeared = set(store.list_namespaces(prefix=("memories",), limit=100_000)) - spaces
    return before, after, error, model, history, appeared


def _memory_ids(call: dict[str, Any]) -> list[str]:
    if call.get("bad") or call["name"] != "Memory" or not isinstance(call["args"], dict):
        return []
    mid = call["args"].get("memory_id")
    return [] if mid in ("", None) else [str(mid)]


def _forget_ids(call: dict[str, Any]) -> list[str]:
    if call.get("bad") or call["name"] != "forget":
        return []
    found = call["args"].get("ids")
    found = [found] if isinstance(found, str) else found
    return [str(i) for i in found] if isinstance(found, list) else []


def _contents(calls: list[dict[str, Any]], alias: str | None) -> set[str]:
    """Texts the model asked to store: for ``alias``, or as new memories when None."""
    out = set()
    for call in calls:
        if call.get("bad") or call["name"] != "Memory":
            continue
        content = call["args"].get("content")
        targets = _memory_ids(call)
        if isinstance(content, str) and (targets == [alias] if alias else not targets):
            out.add(clean_text(content))
    return out


@settings(
    max_examples=60,
    deadline=None,
    # One store serves every example; each example uses its own pair of users in it.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(first=replies, second=replies, inserts=st.booleans(), deletes=st.booleans())
def test_store_changes_only_as_shown_ids_and_enabled_actions_allow(
    any_store: BaseStore,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    inserts: bool,
    deletes: bool,
) -> None:
    before, after, error, model, history, appeared = _run(
        any_store, first, second, inserts, deletes
    )
    assert appeared == set(), "a write landed in a namespace of its own"
    calls = first + second
    alias_to_key = {
        alias: next(k for k, t in ALICE_KEYS.items() if t == text)
        for alias, text in shown_memories(model.calls[0].request).items()
    }
    assert set(alias_to_key.values()) == set(ALICE_KEYS)  # exactly alice's readable memories

    def memories(state: Snapshot) -> Snapshot:
        return {k: v for k, v in state.items() if k[0] in (ALICE, BOB)}

    if error is not None:
        event("model output rejected")
        assert "nothing was written" in str(error)
        assert memories(after) == memories(before)
        assert history == []
        return

    # Nothing outside alice's readable memories changes.
    for where in [(BOB, k) for k in BOB_KEYS] + [(ALICE, UNSHOWN_KEY)]:
        assert after.get(where) == before[where]

    changed = 0
    for alias, key in alias_to_key.items():
        was, now = before[(ALICE, key)], after.get((ALICE, key))
        if now is None:
            assert deletes, "deleted although deletes are disabled"
            assert any(alias in _forget_ids(c) for c in calls), f"{alias} deleted unasked"
            event("deleted a shown memory")
            changed += 1
        elif now != was:
            assert now["kind"] == "Memory"
            assert now["content"]["content"] in _contents(calls, alias), "update not asked for"
            event("updated a shown memory")
            changed += 1

    new = {k: v for k, v in after.items() if k[0] == ALICE and k not in before}
    if new:
        assert inserts, "inserted although inserts are disabled"
        event("inserted")
        allowed = _contents(calls, None)
        assert all(v["content"]["content"] in allowed for v in new.values())
        assert len(new) <= sum(1 for c in calls if not c.get("bad") and c["name"] == "Memory")
    for value in after.values():
        json.dumps(value).encode("utf-8")  # every backend can store what was written
    assert len(history) == changed + len(new)


garbage_call = st.one_of(
    other_call,
    bad_json,
    st.builds(
        lambda i: {"name": "forget", "args": {"ids": [i]}}, st.sampled_from(["4", "99", *BOB_KEYS])
    ),
    st.builds(
        lambda i, c: {"name": "Memory", "args": {"content": c, "memory_id": i}},
        st.sampled_from(["4", "0", UNSHOWN_KEY, *BOB_KEYS, *ALICE_KEYS]),
        texts,
    ),
    st.builds(
        lambda c: {"name": "Memory", "args": {"content": c}},
        non_text,
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(garbage_call, min_size=1, max_size=5),
    second=st.lists(garbage_call, max_size=5),
    deletes=st.booleans(),
)
def test_total_garbage_raises_and_writes_nothing(
    first: list[dict[str, Any]], second: list[dict[str, Any]], deletes: bool
) -> None:
    before, after, error, model, history, appeared = _run(
        InMemoryStore(index=hashing_index()), first, second, True, deletes
    )
    assert appeared == set()
    assert isinstance(error, ModelOutputError)
    assert "all invalid, even after one correction request; nothing was written" in str(error)
    assert after == before
    assert history == []
    assert len(model.calls) == 2  # the answer and one correction request, no more
