"""Reverie against a real model: SmolLM2-135M-Instruct behind llama.cpp's OpenAI-compatible
server, reached through ``ChatOpenAI(base_url=...)`` exactly as a vLLM, Ollama or LM Studio user
would. So small a model writes poor memories; these tests assert structure, never content:
every run ends in operations, a stated reason for storing nothing, or a typed Reverie error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.store.memory import InMemoryStore

from reverie import create_memory_store_manager
from reverie.core.errors import ProviderError, ReverieError, UnusableReplyError
from reverie.core.types import Memory
from reverie.extraction.mode_policy import MODE_NAMES, ExtractionMode
from reverie.extraction.output_modes import JsonSchemaMode, Reading, ToolsMode
from reverie.extraction.prompts import DEFAULT_INSTRUCTIONS
from reverie.extraction.report import ReportedList, RunReport
from reverie.extraction.schemas import SchemaToolkit
from reverie.testing import hashing_index
from tests.conftest import REPO

NS = ("memories", "u")
SEEDED = {"k1": "User likes cats", "k2": "User lives in Paris"}
# Short turns the model answers within the token cap here (at temperature 0 it is repeatable).
TURNS = [
    "I like dogs. My dog's name is Fido.",
    "My sister Ana is getting married in June.",
    "I prefer dark mode in all my apps",
]
MAX_TOKENS = 256


def chat_model(base_url: str, **options: Any) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    settings: dict[str, Any] = {
        "base_url": base_url,
        "api_key": "not-needed",
        "model": "smollm2",
        "temperature": 0,
        "seed": 7,
        "max_tokens": MAX_TOKENS,
        "max_retries": 0,
        "timeout": 60,
    }
    return ChatOpenAI(**{**settings, **options})


def seeded_store() -> InMemoryStore:
    store = InMemoryStore(index=hashing_index())
    for key, text in SEEDED.items():
        store.put(NS, key, {"kind": "Memory", "content": {"content": text}})
    return store


def run_turn(invoke: Callable[..., Any], turn: int) -> ReportedList[Any] | ReverieError:
    """One run; a Reverie error is an outcome, any other exception fails the test."""
    messages = [
        {"role": "user", "content": TURNS[turn]},
        {"role": "assistant", "content": "Noted!"},
    ]
    config = {"configurable": {"langgraph_user_id": "u", "thread_id": f"t{turn}"}}
    try:
        result = invoke({"messages": messages}, config)
    except ReverieError as error:
        return error
    assert isinstance(result, ReportedList)
    return result


def assert_accounted_for(report: RunReport) -> None:
    """A run that stored nothing says why; every model call is in a known mode."""
    assert report.model_calls >= 1 and set(report.modes) <= set(MODE_NAMES)
    if report.written == 0:
        assert report.why_nothing_stored is not None
    if report.nothing_stored == "unusable_reply":
        assert report.warnings and report.unusable_replies >= 1


def assert_store_consistent(store: InMemoryStore, history: list[Any]) -> None:
    items = store.search(NS, limit=100)
    for item in items:
        assert item.value["kind"] == "Memory"
        Memory.model_validate(item.value["content"])  # every stored value is a valid memory
    known = set(SEEDED)
    for record in history:  # oldest first: updates and deletes only touch memories that exist
        if record.action == "insert":
            known.add(record.memory_key)
        else:
            assert record.memory_key in known and record.before is not None


def test_auto_mode_on_a_server_without_tool_support_moves_to_json_schema(
    llama_server: str,
) -> None:
    store = seeded_store()
    manager = create_memory_store_manager(chat_model(llama_server), store=store)
    outcomes = [run_turn(manager.invoke, turn) for turn in range(2)]
    first = outcomes[0]
    assert isinstance(first, ReportedList), first
    # SmolLM2's chat template has no tools: the server dropped them and the model chatted.
    assert first.report.modes[0] == "tools" and first.report.fallbacks
    assert first.report.fallbacks[0].startswith("tools -> json_schema: a reply in prose")
    for outcome in outcomes:
        if isinstance(outcome, ReportedList):
            assert outcome.report.mode == "json_schema"
            assert_accounted_for(outcome.report)
        else:
            assert isinstance(outcome, ProviderError) and outcome.kind == "output_truncated"
    assert_store_consistent(
        store, manager.history(config={"configurable": {"langgraph_user_id": "u"}}, limit=None)
    )


def test_grammar_constrained_runs_yield_only_valid_operations(llama_server: str) -> None:
    store = seeded_store()
    manager = create_memory_store_manager(
        chat_model(llama_server), store=store, extraction_mode="json_schema", enable_deletes=True
    )
    outcomes = [run_turn(manager.invoke, turn) for turn in range(len(TURNS))]
    reports = [o.report for o in outcomes if isinstance(o, ReportedList)]
    assert reports, outcomes  # at least one run answered within the token cap
    for outcome in outcomes:
        if isinstance(outcome, ReverieError):  # the only failure a grammar leaves: length
            assert isinstance(outcome, ProviderError) and outcome.kind == "output_truncated"
            assert "max_tokens" in str(outcome)
    for report in reports:
        assert_accounted_for(report)
        # Ids are enums of the ids shown, names and arguments a schema: nothing to reject.
        assert report.rejected_calls == 0 and report.unusable_replies == 0
        assert report.modes == ["json_schema"] and report.model_calls == 1
    assert sum(r.operations for r in reports) >= 1
    history = manager.history(config={"configurable": {"langgraph_user_id": "u"}}, limit=None)
    assert_store_consistent(store, history)


@pytest.mark.parametrize("mode", ["json", "text"])
def test_unconstrained_replies_are_parsed_or_rejected_with_a_reason(
    llama_server: str, mode: ExtractionMode
) -> None:
    store = seeded_store()
    manager = create_memory_store_manager(
        chat_model(llama_server), store=store, extraction_mode=mode
    )
    for turn in (0, 2):
        outcome = run_turn(manager.invoke, turn)
        if isinstance(outcome, ReportedList):
            assert_accounted_for(outcome.report)
            assert outcome.report.modes == [mode]
        else:  # invalid calls after a correction request, or a reply cut at the cap
            assert str(outcome) and isinstance(outcome, ReverieError)
    assert_store_consistent(store, [])


def test_forced_tools_on_a_template_without_tools_raises_when_asked(llama_server: str) -> None:
    manager = create_memory_store_manager(
        chat_model(llama_server),
        store=seeded_store(),
        extraction_mode="tools",
        on_unusable_reply="raise",
    )
    with pytest.raises(UnusableReplyError, match=r"\(tools mode\).*--jinja"):
        run_turn_raising(manager.invoke, 2)


def run_turn_raising(invoke: Callable[..., Any], turn: int) -> None:
    outcome = run_turn(invoke, turn)
    if isinstance(outcome, ReverieError):
        raise outcome


def test_the_server_accepts_every_correction_request_shape(llama_server: str) -> None:
    model = chat_model(llama_server, max_tokens=48)
    toolkit = SchemaToolkit(None, enable_inserts=True, enable_updates=True, enable_deletes=False)
    reply = AIMessage(
        content="",
        tool_calls=[
            {
                "name": "Memory",
                "args": {"content": "User likes dogs"},
                "id": "c1",
                "type": "tool_call",
            },
            {
                "name": "Memory",
                "args": {"content": "x", "memory_id": "Fido"},
                "id": "c2",
                "type": "tool_call",
            },
        ],
    )
    human = HumanMessage(
        "Stored memories:\n[1] User likes cats\n\nNew conversation:\nuser: I like dogs."
    )
    shown = {"1"}
    for mode in (
        ToolsMode(model, toolkit, DEFAULT_INSTRUCTIONS, forced=True),
        JsonSchemaMode(model, toolkit, DEFAULT_INSTRUCTIONS),
    ):
        reading = Reading([dict(c) for c in reply.tool_calls], message=reply, native_ids=True)
        parsed = toolkit.parse(reading.calls, [], shown)
        assert parsed.errors  # the invented id
        requests = mode.corrections([mode.system, human], reading, parsed)
        assert len(requests) == (2 if isinstance(mode, ToolsMode) else 1)
        for messages in requests:
            try:
                answer = mode.runnable(shown).invoke(messages)
            except Exception as exc:  # a truncated structured reply is not a refusal
                assert type(exc).__name__ == "LengthFinishReasonError", exc
                continue
            assert isinstance(answer, (AIMessage, dict))


def test_an_overlong_prompt_is_a_provider_error_with_advice(llama_server: str) -> None:
    manager = create_memory_store_manager(
        chat_model(llama_server), store=seeded_store(), token_budget=12_000
    )
    essay = "I keep a diary about my garden, my bees and my neighbours. " * 400
    with pytest.raises(ProviderError, match="token_budget") as caught:
        manager.invoke(
            {"messages": [{"role": "user", "content": essay}]},
            {"configurable": {"langgraph_user_id": "u"}},
        )
    assert caught.value.kind == "context_too_long"
    assert "exceeds the available context size" in str(caught.value.__cause__)


def test_an_unreachable_server_is_a_provider_error_with_advice(openai_client: None) -> None:
    from tests.models.conftest import free_port

    model = chat_model(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    manager = create_memory_store_manager(model, store=seeded_store(), extraction_mode="text")
    with pytest.raises(ProviderError, match="OPENAI_BASE_URL") as caught:
        manager.invoke(
            {"messages": [{"role": "user", "content": "hi"}]},
            {"configurable": {"langgraph_user_id": "u"}},
        )
    assert caught.value.kind == "connection"


def test_reverie_demo_runs_end_to_end_against_the_server(llama_server: str, tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "REVERIE_"))
    }
    env.update(
        REVERIE_MODEL="openai:smollm2",
        OPENAI_BASE_URL=llama_server,  # no OPENAI_API_KEY: the CLI supplies a placeholder
        REVERIE_STORE=str(tmp_path / "demo.db"),
        REVERIE_EMBEDDINGS="hashing",
        COLUMNS="120",
    )
    done = subprocess.run(
        [sys.executable, "-m", "reverie.cli", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "Reverie demo with openai:smollm2" in out
    assert "extraction mode: json_schema" in out
    assert "moved on from tools -> json_schema" in out
    assert "search: app preferences" in out
