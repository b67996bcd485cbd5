"""Runs as LangChain runs (callback handlers, LangSmith) and as OpenTelemetry spans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.func import entrypoint
from langgraph.store.memory import InMemoryStore
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from reverie import create_memory_store_manager
from reverie.extraction import otel_spans
from reverie.extraction.report import RunReport
from reverie.testing import ScriptedChatModel, hashing_index, tool_call

CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "ann", "thread_id": "t1"}}


def traced(*handlers: BaseCallbackHandler, run_name: str | None = None) -> RunnableConfig:
    config: RunnableConfig = {**CONFIG, "callbacks": list(handlers)}
    if run_name is not None:
        config["run_name"] = run_name
    return config


PHASES = ["reverie.retrieve", "reverie.model", "reverie.commit"]
_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The SDK's in-memory exporter, installed once for the process (OpenTelemetry allows one
    global tracer provider), emptied for each test."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def manager(**options: Any) -> Any:
    model = ScriptedChatModel(responder=lambda r: tool_call("Memory", {"content": "Likes tea"}))
    return create_memory_store_manager(model, store=InMemoryStore(index=hashing_index()), **options)


def said(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[str]:
    assert parent.context is not None
    return [
        s.name for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_one_span_per_run_with_phase_children_and_attributes(
    spans: InMemorySpanExporter,
) -> None:
    memory = manager()
    first = memory.invoke(said("I like tea."), CONFIG).report
    memory.invoke(said("I like green tea too."), CONFIG)
    finished = list(spans.get_finished_spans())
    runs = [s for s in finished if s.name == "reverie.memory_run"]
    assert len(runs) == 2
    for run in runs:
        assert children(finished, run) == PHASES
    attributes = dict(runs[0].attributes or {})
    assert attributes["reverie.namespace"] == "memories/ann"
    assert attributes["reverie.thread_id"] == "t1"
    assert attributes["reverie.run_id"] == first.run_id
    assert attributes["reverie.input_tokens"] == first.input_tokens > 0
    assert attributes["reverie.output_tokens"] == first.output_tokens
    assert attributes["reverie.model_calls"] == 1 and attributes["reverie.inserted"] == 1
    assert attributes["reverie.model_name"] == "scripted"
    commit = next(s for s in finished if s.name == "reverie.commit")
    assert (commit.attributes or {})["reverie.committed"] is True


async def test_a_failed_run_ends_its_span_with_the_error(spans: InMemorySpanExporter) -> None:
    def fail(request: Any) -> Any:
        raise RuntimeError("Error code: 500 - internal server error")

    memory = create_memory_store_manager(
        ScriptedChatModel(responder=fail), store=InMemoryStore(index=hashing_index())
    )
    with pytest.raises(RuntimeError):
        await memory.ainvoke(said("I like tea."), CONFIG)
    finished = list(spans.get_finished_spans())
    (run,) = [s for s in finished if s.name == "reverie.memory_run"]
    assert run.status.status_code == trace.StatusCode.ERROR
    model = next(s for s in finished if s.name == "reverie.model")
    assert model.status.status_code == trace.StatusCode.ERROR


def test_without_opentelemetry_there_are_no_spans(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(otel_spans, "_tracer", None)  # as if opentelemetry-api were missing
    report = manager().invoke(said("I like tea."), CONFIG).report
    assert report.inserted == 1 and list(spans.get_finished_spans()) == []


class Runs(BaseCallbackHandler):
    """Records (name, parent name) of every chain and chat-model run it is told about."""

    def __init__(self) -> None:
        self.names: dict[UUID, str] = {}
        self.seen: list[tuple[str, str | None]] = []
        self.outputs: dict[str, Any] = {}

    def _start(self, name: str, run_id: UUID, parent_run_id: UUID | None) -> None:
        self.names[run_id] = name
        self.seen.append((name, self.names.get(parent_run_id) if parent_run_id else None))

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:  # fmt: skip
        self._start(kwargs.get("name") or "?", run_id, parent_run_id)

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], *,
                            run_id: UUID, parent_run_id: UUID | None = None,
                            **kwargs: Any) -> None:  # fmt: skip
        self._start("chat_model", run_id, parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.outputs[self.names[run_id]] = outputs


class AsyncRuns(AsyncCallbackHandler, Runs):
    async def on_chain_start(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        Runs.on_chain_start(self, *args, **kwargs)

    async def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        Runs.on_chat_model_start(self, *args, **kwargs)

    async def on_chain_end(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        Runs.on_chain_end(self, *args, **kwargs)


EXPECTED = [
    ("reverie.memory_run", None),
    ("reverie.retrieve", "reverie.memory_run"),
    ("reverie.model", "reverie.memory_run"),
    ("chat_model", "reverie.model"),
    ("reverie.commit", "reverie.memory_run"),
]


def test_a_callback_handler_sees_the_named_runs() -> None:
    handler = Runs()
    report = manager().invoke(said("I like tea."), traced(handler)).report
    assert handler.seen == EXPECTED
    assert RunReport.from_dict(handler.outputs["reverie.memory_run"]).run_id == report.run_id
    # The memory, its time record, its audit record, the thread's progress, the usage record.
    assert handler.outputs["reverie.commit"] == {"committed": True, "writes": 5}


async def test_an_async_handler_sees_them_from_ainvoke_and_run_name_names_the_run() -> None:
    handler = AsyncRuns()
    await manager().ainvoke(said("I like tea."), traced(handler, run_name="remember"))
    assert handler.seen == [
        (
            name.replace("reverie.memory_run", "remember"),
            parent and parent.replace("reverie.memory_run", "remember"),
        )
        for name, parent in EXPECTED
    ]


def test_inside_a_langgraph_run_the_memory_run_nests_under_it() -> None:
    memory = manager()
    handler = Runs()

    @entrypoint(store=InMemoryStore())
    def chat(text: str) -> int:
        return len(memory.invoke(said(text)))

    assert chat.invoke("I like tea.", traced(handler)) == 1
    assert ("reverie.memory_run", "chat") in handler.seen
    assert ("chat_model", "reverie.model") in handler.seen


def test_usage_false_makes_no_runs_of_its_own(spans: InMemorySpanExporter) -> None:
    handler = Runs()
    manager(usage=False).invoke(said("I like tea."), traced(handler))
    assert [name for name, _ in handler.seen] == ["chat_model"]
    assert list(spans.get_finished_spans()) == []


async def test_inside_an_async_langgraph_run_too() -> None:
    memory = manager()
    handler = AsyncRuns()

    @entrypoint(store=InMemoryStore())
    async def chat(text: str) -> int:
        return len(await memory.ainvoke(said(text)))

    assert await chat.ainvoke("I like tea.", traced(handler)) == 1
    assert ("reverie.memory_run", "chat") in handler.seen
    assert ("chat_model", "reverie.model") in handler.seen
