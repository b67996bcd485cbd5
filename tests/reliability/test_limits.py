"""Every limit: its default, where it is configured, the typed error over it (saying the limit),
and that nothing was written. The identifier limits are the same on every backend and keep the
largest item they allow under PostgreSQL's index row limit."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import BaseStore, PutOp

from reverie import (
    ConfigurationError,
    LimitError,
    Limits,
    NamespaceError,
    create_manage_memory_tool,
    create_search_memory_tool,
)
from reverie.core.errors import NamespaceLimitError
from reverie.core.ports import NamespaceSearch
from reverie.ledger import port_for
from reverie.testing import tool_call
from tests.reliability.hostile import (
    ALICE,
    NS,
    Harness,
    contents,
    first_reply_then_nothing,
    incompressible,
)

TEMPLATE = ("memories", "{langgraph_user_id}")


def test_defaults_and_configuration() -> None:
    limits = Limits()
    assert (limits.max_value_bytes, limits.max_label_bytes, limits.max_key_bytes) == (
        65_536,
        256,
        256,
    )
    assert (limits.max_namespace_depth, limits.memory_namespace_depth) == (8, 6)
    assert limits.memory_key_bytes == 224
    assert Limits.from_env({"REVERIE_MAX_VALUE_BYTES": "131_072"}).max_value_bytes == 131_072
    assert Limits.from_env({}) == limits
    with pytest.raises(ConfigurationError, match="REVERIE_MAX_KEY_BYTES must be a whole number"):
        Limits.from_env({"REVERIE_MAX_KEY_BYTES": "lots"})
    for bad in ({"max_query_chars": 0}, {"max_filter_depth": -1}, {"max_namespace_depth": 2}):
        with pytest.raises(ConfigurationError):
            Limits(**bad)


def test_the_largest_item_the_limits_allow_is_stored_on_every_backend(
    any_store: BaseStore,
) -> None:
    limits = Limits()
    namespace = tuple(incompressible(limits.max_label_bytes, i) for i in range(8))
    key = incompressible(limits.max_key_bytes, 99)
    any_store.put(namespace, key, {"text": "at the limits"})
    port_for(any_store).commit([], [PutOp(namespace, key + "", {"text": "committed"})])
    item = any_store.get(namespace, key)
    assert item is not None and item.value == {"text": "committed"}


@pytest.mark.parametrize(
    ("namespace", "key", "limit_name"),
    [
        (("n", "x" * 257), "k", "max_label_bytes"),
        (("n", "é" * 129), "k", "max_label_bytes"),  # 258 bytes in 129 characters
        (("n",) * 9, "k", "max_namespace_depth"),
        (("n",), "k" * 257, "max_key_bytes"),
    ],
    ids=["label", "label-bytes", "depth", "key"],
)
def test_store_level_identifier_limits_are_the_same_on_every_backend(
    any_store: BaseStore, namespace: tuple[str, ...], key: str, limit_name: str
) -> None:
    port = port_for(any_store)
    for write in (
        lambda: port.batch([PutOp(namespace, key, {"x": 1})]),
        lambda: port.commit([], [PutOp(namespace, key, {"x": 1})]),
    ):
        with pytest.raises(LimitError) as caught:
            write()
        assert caught.value.limit_name == limit_name
        assert f"Limits.{limit_name}" in str(caught.value)
        assert "Nothing was written" in str(caught.value)
    assert any_store.search(namespace[:1], limit=10) == []


def test_user_id_limits_are_checked_when_the_namespace_is_filled(any_store: BaseStore) -> None:
    harness = Harness(any_store)
    small = Limits(max_label_bytes=10)
    manager, model = harness.manager(limits=small)
    with pytest.raises(NamespaceLimitError) as caught:
        manager.invoke([("user", "hi")], {"configurable": {"langgraph_user_id": "a" * 11}})
    assert caught.value.limit == 10 and caught.value.size == 11
    assert isinstance(caught.value, NamespaceError) and isinstance(caught.value, LimitError)
    manager.invoke([("user", "hi")], {"configurable": {"langgraph_user_id": "a" * 10}})
    assert contents(any_store, ("memories", "a" * 10)) == ["hi"]
    # A memory namespace leaves two labels for its bookkeeping: six at most by default.
    with pytest.raises(NamespaceLimitError, match="at most 6 labels"):
        harness.manager(namespace=("a", "b", "c", "d", "e", "f", "{langgraph_user_id}"))[0].invoke(
            [("user", "hi")], ALICE
        )
    harness.check_nothing_stored_changed()


def test_a_memory_key_leaves_room_for_its_past_versions(any_store: BaseStore) -> None:
    harness = Harness(any_store)
    manager, _ = harness.manager()
    longest = "k" * Limits().memory_key_bytes
    manager.put(longest, "first", config=ALICE)
    manager.put(longest, "second", config=ALICE)  # the first is kept as a past version
    assert "second" in contents(any_store)
    with pytest.raises(LimitError, match="at most 224 bytes"):
        manager.put(longest + "k", "x", config=ALICE)
    harness.check_nothing_stored_changed()


def test_memory_size_limit_at_every_writer(any_store: BaseStore) -> None:
    harness = Harness(any_store)
    small = Limits(max_value_bytes=200)
    text = "y" * 300
    manager, _ = harness.manager(
        first_reply_then_nothing(
            [tool_call("Memory", {"content": text}), tool_call("Memory", {"content": "ok"})]
        ),
        limits=small,
    )
    written = manager.invoke([("user", "remember")], ALICE)
    assert [w["value"]["content"]["content"] for w in written] == ["ok"]
    assert any("at most 200" in w for w in written.report.warnings)
    with pytest.raises(LimitError, match="at most 200 bytes"):
        manager.put("k", text, config=ALICE)
    manager.put("k", "z" * 100, config=ALICE)  # under the limit
    reply = create_manage_memory_tool(TEMPLATE, store=any_store, limits=small).invoke(
        {"content": text}, ALICE
    )
    assert "at most 200" in reply
    assert sorted(contents(any_store)) == sorted(["User is called Alice", "ok", "z" * 100])
    harness.check_nothing_stored_changed()


@pytest.mark.parametrize(
    ("request_args", "limit_name"),
    [
        ({"query": "q" * 8193}, "max_query_chars"),
        ({"filter": {f"k{i}": i for i in range(65)}}, "max_filter_size"),
        ({"filter": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}, "max_filter_depth"),
        ({"filter": {"k": "v" * 16_385}}, "max_filter_chars"),
        ({"limit": 10_001}, "max_search_limit"),
        ({"offset": 10_000_001}, "max_search_offset"),
    ],
    ids=["query", "filter-size", "filter-depth", "filter-chars", "limit", "offset"],
)
def test_search_limits_are_the_same_on_every_backend(
    any_store: BaseStore, request_args: dict[str, Any], limit_name: str
) -> None:
    with pytest.raises(LimitError) as caught:
        port_for(any_store).batch([NamespaceSearch(NS, **request_args)])
    assert caught.value.limit_name == limit_name
    assert f"Limits.{limit_name}" in str(caught.value)
    at_most: dict[str, Any] = {
        "query": "q" * 8192,
        "filter": {f"k{i}": i for i in range(64)},
        "limit": 10_000,
        "offset": 10_000_000,
    }
    if limit_name in (
        "max_query_chars",
        "max_filter_size",
        "max_search_limit",
        "max_search_offset",
    ):
        name = next(iter(request_args))
        port_for(any_store).batch([NamespaceSearch(NS, **{name: at_most[name]})])


def test_a_tool_with_its_own_limits(any_store: BaseStore) -> None:
    tool = create_search_memory_tool(TEMPLATE, store=any_store, limits=Limits(max_query_chars=5))
    assert "at most 5" in tool.invoke({"query": "longer"}, ALICE)
    assert tool.invoke({"query": "short"}, ALICE) == "[]"
    manage = create_manage_memory_tool(TEMPLATE, store=any_store, limits=Limits(max_key_bytes=36))
    reply = manage.invoke({"action": "delete", "id": "12345"}, ALICE)
    assert reply.startswith("No memory with id 12345") and "nothing was changed" in reply
