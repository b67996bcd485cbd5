"""What durable jobs store: payloads and configs as JSON, messages intact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from reverie import ConfigurationError, InputError, LimitError, Limits
from reverie.executor.factory import load_reflector
from reverie.executor.payload import (
    decode_payload,
    encode_config,
    encode_payload,
    stored_job_args,
)


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


def _job(text: str) -> dict[str, Any]:
    """A job's arguments as the durable executor stores them."""
    return {
        "manager": "myapp.memory:manager",
        "payload": encode_payload({"messages": [HumanMessage(text)]}),
        "config": {"configurable": {"langgraph_user_id": "ana"}},
        "thread_id": "t1",
        "idempotency_key": "k1",
    }


def test_a_job_is_measured_in_utf8_bytes_as_stored() -> None:
    job = _job("é" * 1000)
    stored = stored_job_args(job, Limits())
    assert json.loads(stored) == job
    # "é" takes 2 bytes in UTF-8 (and would take 6 escaped as \u00e9): 1,000 more than "e".
    assert len(stored) - len(stored_job_args(_job("e" * 1000), Limits())) == 1000


def test_a_job_over_max_payload_bytes_is_refused_naming_the_limit() -> None:
    job = _job("a long conversation " * 50)
    size = len(stored_job_args(job, Limits()))
    assert len(stored_job_args(job, Limits(max_payload_bytes=size))) == size  # at the limit
    assert stored_job_args(job, Limits(max_payload_bytes=size + 1))  # just under it
    with pytest.raises(LimitError) as caught:
        stored_job_args(job, Limits(max_payload_bytes=size - 1))  # one byte over
    error = caught.value
    assert (error.limit_name, error.limit, error.size) == ("max_payload_bytes", size - 1, size)
    message = str(error)
    for advice in (
        "Limits.max_payload_bytes",
        "REVERIE_MAX_PAYLOAD_BYTES",
        "Nothing was enqueued",
        "split the conversation",
        "only the messages that are new",
    ):
        assert advice in message


def test_max_payload_bytes_defaults_to_16_mib_and_is_read_from_the_environment() -> None:
    assert Limits().max_payload_bytes == 16 * 1024 * 1024
    limits = Limits.from_env({"REVERIE_MAX_PAYLOAD_BYTES": "1_024"})
    assert limits.max_payload_bytes == 1024
    with pytest.raises(LimitError, match="at most 1,024 bytes"):
        stored_job_args(_job("x" * 2000), limits)
    with pytest.raises(ConfigurationError):
        Limits(max_payload_bytes=0)
