"""What durable jobs store: payloads and configs as JSON, messages intact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from reverie import ConfigurationError, InputError
from reverie.executor.factory import load_reflector
from reverie.executor.payload import decode_payload, encode_config, encode_payload


def test_messages_survive_the_round_trip_through_json() -> None:
    payload: dict[str, Any] = {
        "messages": [
            HumanMessage("I like dogs", id="m1"),
            AIMessage("", tool_calls=[{"name": "x", "args": {"a": 1}, "id": "c1"}]),
            ToolMessage("done", tool_call_id="c1"),
            {"role": "user", "content": "plain dict"},
        ],
        "max_steps": 2,
    }
    stored = json.loads(json.dumps(encode_payload(payload)))
    restored = decode_payload(stored)
    assert restored["messages"][:3] == payload["messages"][:3]
    assert restored["messages"][3] == {"role": "user", "content": "plain dict"}
    assert restored["max_steps"] == 2


def test_payloads_that_are_not_json_are_refused_with_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"payload\['messages'\]\[0\] is a object"):
        encode_payload({"messages": [object()]})


def test_configs_keep_user_settings_and_drop_process_bound_values() -> None:
    config: RunnableConfig = {
        "configurable": {
            "thread_id": "t",
            "langgraph_user_id": "u",
            "__pregel_runtime": object(),
            "connection": object(),
        },
        "callbacks": [object()],  # type: ignore[list-item]  # deliberately wrong type
        "tags": ["a"],
    }
    assert encode_config(config) == {
        "configurable": {"thread_id": "t", "langgraph_user_id": "u"},
        "tags": ["a"],
    }


def test_manager_paths_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="module:attribute"):
        load_reflector("no_colon")
    with pytest.raises(ConfigurationError, match="Cannot import"):
        load_reflector("reverie_missing_module:manager")
    with pytest.raises(ConfigurationError, match="no attribute"):
        load_reflector("reverie.executor:missing")
