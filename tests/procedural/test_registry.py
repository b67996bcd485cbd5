"""PromptRegistry: prompts in the store with every version, improved by an optimizer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from reverie import (
    ConflictError,
    InputError,
    NamespaceError,
    PromptRegistry,
    create_multi_prompt_optimizer,
)
from reverie.testing import ScriptedChatModel, ScriptedRequest
from tests.procedural.scripts import call, optimizer_model
from tests.procedural.test_multi_prompt import PROMPTS, TRAJECTORIES

CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice", "thread_id": "t-1"}}


def test_versions_are_kept(any_store: BaseStore) -> None:
    registry = PromptRegistry(store=any_store)
    assert registry.put({"name": "assistant", "prompt": "Be helpful."}) == 1
    assert registry.put({"name": "assistant", "prompt": "Be helpful."}) == 1  # unchanged
    assert registry.put({"name": "assistant", "prompt": "Be brief and helpful."}) == 2
    assert registry.get("assistant") == {"name": "assistant", "prompt": "Be brief and helpful."}
    assert registry.get("missing") is None
    versions = registry.history("assistant")
    assert [(v.version, v.prompt["prompt"]) for v in versions] == [
        (1, "Be helpful."),
        (2, "Be brief and helpful."),
    ]
    assert versions[0].saved_at <= versions[1].saved_at


def test_async_twins_and_a_namespace_per_user() -> None:
    store = InMemoryStore()
    registry = PromptRegistry(("prompts", "{langgraph_user_id}"), store=store)

    async def scenario() -> None:
        await registry.aput({"name": "assistant", "prompt": "Hi"}, config=CONFIG)
        assert await registry.aget("assistant", config=CONFIG) == {
            "name": "assistant",
            "prompt": "Hi",
        }
        (version,) = await registry.ahistory("assistant", config=CONFIG)
        assert version.thread_id == "t-1"

    asyncio.run(scenario())
    assert store.get(("prompts", "alice"), "assistant") is not None


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_optimize_saves_the_improved_prompts_as_new_versions(
    any_store: BaseStore, mode: str
) -> None:
    registry = PromptRegistry(store=any_store)
    for prompt in PROMPTS:
        registry.put(prompt)
    optimizer = create_multi_prompt_optimizer(
        optimizer_model(choose=[["summarize"]], improved="Summarize in 3 bullets"),
        kind="prompt_memory",
    )
    if mode == "sync":
        result = registry.optimize(optimizer, TRAJECTORIES)
    else:
        result = asyncio.run(registry.aoptimize(optimizer, TRAJECTORIES))
    assert {p["name"]: p["prompt"] for p in result} == {
        "research": "Research the given topic thoroughly",
        "summarize": "Summarize in 3 bullets",
    }
    assert [v.prompt["prompt"] for v in registry.history("summarize")] == [
        "Summarize the research findings",
        "Summarize in 3 bullets",
    ]
    assert len(registry.history("research")) == 1


def test_a_prompt_changed_during_optimization_is_not_overwritten() -> None:
    registry = PromptRegistry(store=InMemoryStore())
    registry.put({"name": "assistant", "prompt": "Be helpful."})

    def respond(request: ScriptedRequest) -> Any:
        registry.put({"name": "assistant", "prompt": "Edited by a person meanwhile."})
        return call("update_prompt", analysis="x", improved_prompt="Be brief.")

    optimizer = create_multi_prompt_optimizer(
        ScriptedChatModel(responder=respond), kind="prompt_memory"
    )
    with pytest.raises(ConflictError, match="changed while they were being optimized"):
        registry.optimize(optimizer, TRAJECTORIES, names=["assistant"])
    assert registry.get("assistant") == {
        "name": "assistant",
        "prompt": "Edited by a person meanwhile.",
    }


def test_errors() -> None:
    registry = PromptRegistry(store=InMemoryStore())
    with pytest.raises(InputError, match="'name' and a 'prompt'"):
        registry.put({"prompt": "x"})  # type: ignore[typeddict-item]  # no name, on purpose
    with pytest.raises(NamespaceError, match="contains '.'"):
        registry.put({"name": "a.b", "prompt": "x"})
    with pytest.raises(InputError, match="No stored prompts named"):
        registry.optimize(
            create_multi_prompt_optimizer(optimizer_model()), TRAJECTORIES, names=["nope"]
        )
    assert registry.optimize(create_multi_prompt_optimizer(optimizer_model()), TRAJECTORIES) == []
