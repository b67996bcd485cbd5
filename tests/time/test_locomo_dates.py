"""LoCoMo's sessions replayed with their dates: the prompt says when each session happened, and a
memory records the date of the session it was learnt from.

LoCoMo (CC BY-NC) is read from ``../shared/data/locomo`` beside the repository, never copied.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore

from benchmarks.replay_locomo import load_exchanges, locomo_dir, session_time
from reverie import create_memory_store_manager
from reverie.ledger.timeline import TimeRecord, time_namespace
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from tests.helpers import new_conversation

NS = ("memories", "caroline")


@pytest.fixture(scope="module")
def conversation() -> dict[str, Any]:
    try:
        path = locomo_dir() / "locomo10.json"
    except FileNotFoundError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"LoCoMo must be readable in CI: {exc}")
        pytest.skip(str(exc))
    return dict(json.loads(path.read_text())[0]["conversation"])


def remember_the_session(request: ScriptedRequest) -> Any:
    """One memory per session: its first line, so each memory names its session."""
    lines = [line for line in new_conversation(request).strip().splitlines() if line]
    return tool_call("Memory", {"content": f"first said: {lines[0][:80]}"})


def session_messages(conversation: dict[str, Any], n: int) -> list[dict[str, str]]:
    speaker_a = conversation["speaker_a"]
    return [
        {
            "role": "user" if turn["speaker"] == speaker_a else "assistant",
            "content": f"{turn['speaker']}: {turn['text']}",
        }
        for turn in conversation[f"session_{n}"]
    ]


def test_each_session_is_consolidated_at_its_own_date(conversation: dict[str, Any]) -> None:
    store = InMemoryStore(index=hashing_index())
    model = ScriptedChatModel(responder=remember_the_session)
    manager = create_memory_store_manager(model, namespace=NS, store=store)
    dates = {n: session_time(conversation[f"session_{n}_date_time"]) for n in (1, 2, 3)}
    written = {}
    for n, when in dates.items():
        config: Any = {"configurable": {"thread_id": "conv-26", "reference_time": when}}
        (memory,) = manager.invoke({"messages": session_messages(conversation, n)}, config)
        written[n] = memory["key"]

    # The prompt of each session states that session's date (8 May 2023 is a Monday).
    assert dates[1] == datetime.fromisoformat("2023-05-08T13:56:00+00:00")
    prompts = [call.request.text for call in model.calls]
    assert "Conversation date: Monday, 8 May 2023." in prompts[0]
    for prompt, when in zip(prompts, dates.values(), strict=True):
        assert f"{when:%A}, {when.day} {when:%B %Y}" in prompt
    # A memory extracted from session 3 records session 3's date as its event time.
    item = store.get(time_namespace(NS), written[3])
    assert item is not None
    record = TimeRecord.from_value(item.value)
    assert record is not None and record.event_time == dates[3]
    assert record.event_time != dates[2]


def test_messages_carrying_their_own_dates_are_dated_one_by_one() -> None:
    """The replay benchmark's messages carry their session's time (``created_at``): a thread
    spanning two sessions shows each message's date, and the memory takes the latest."""
    try:
        _, exchanges = load_exchanges(0)
    except FileNotFoundError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            raise
        pytest.skip(str(exc))
    last_of_first = next(e.number for e in exchanges if e.session_end)
    thread = [m for e in exchanges[last_of_first - 1 : last_of_first + 1] for m in e.messages]
    store = InMemoryStore(index=hashing_index())
    model = ScriptedChatModel(responder=remember_the_session)
    manager = create_memory_store_manager(model, namespace=NS, store=store)
    (memory,) = manager.invoke({"messages": thread})
    prompt = model.calls[0].request.text
    assert "Conversation dates: Monday, 8 May 2023 to" in prompt
    assert "[2023-05-08] user: Caroline:" in prompt or "[2023-05-08] assistant:" in prompt
    item = store.get(time_namespace(NS), memory["key"])
    assert item is not None
    record = TimeRecord.from_value(item.value)
    assert record is not None
    assert record.event_time == max(datetime.fromisoformat(m["created_at"]) for m in thread)
