"""create_multi_prompt_optimizer: feedback attributed to the right prompt among several."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reverie import InputError, ModelOutputError, Prompt, create_multi_prompt_optimizer
from tests.procedural.scripts import optimizer_model

TRAJECTORIES = [
    (
        [
            {"role": "user", "content": "Summarize the research on bees"},
            {"role": "assistant", "content": "Bees are insects. (a 2,000-word summary follows)"},
        ],
        "The summary is far too long.",
    )
]
PROMPTS: list[Prompt] = [
    {"name": "research", "prompt": "Research the given topic thoroughly"},
    {
        "name": "summarize",
        "prompt": "Summarize the research findings",
        "when_to_update": "When summaries have the wrong length or focus",
    },
]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_only_the_implicated_prompt_changes(mode: str) -> None:
    model = optimizer_model(choose=[["summarize"]], improved="Summarize the findings in 3 bullets")
    optimizer = create_multi_prompt_optimizer(model, kind="prompt_memory")
    payload: Any = {"trajectories": TRAJECTORIES, "prompts": PROMPTS}
    result = (
        optimizer.invoke(payload) if mode == "sync" else asyncio.run(optimizer.ainvoke(payload))
    )
    assert result == [
        PROMPTS[0],
        {**PROMPTS[1], "prompt": "Summarize the findings in 3 bullets"},
    ]
    choose = model.calls[0].request
    assert choose.tool_names == ["choose_prompts"]
    assert "wrong length or focus" in choose.text and "far too long" in choose.text
    assert len(model.calls) == 2


def test_a_single_prompt_without_a_rule_is_improved_directly() -> None:
    model = optimizer_model(improved="Explain with one example")
    result = asyncio.run(
        create_multi_prompt_optimizer(model, kind="prompt_memory")(
            TRAJECTORIES, [{"name": "explain", "prompt": "Explain the concept"}]
        )
    )
    assert result == [{"name": "explain", "prompt": "Explain with one example"}]
    assert [c.request.tool_names for c in model.calls] == [["update_prompt"]]


def test_unknown_names_are_corrected_once() -> None:
    model = optimizer_model(choose=[["summary"], ["summarize"]], improved="Shorter summaries")
    result = create_multi_prompt_optimizer(model, kind="prompt_memory").invoke(
        {"trajectories": TRAJECTORIES, "prompts": PROMPTS}
    )
    assert result[1]["prompt"] == "Shorter summaries"
    correction = model.calls[1].request.messages[-1]
    assert correction.type == "tool" and "unknown: ['summary']" in correction.text


def test_a_model_that_names_no_known_prompt_changes_nothing() -> None:
    model = optimizer_model(choose=[["bees"]])
    with pytest.raises(ModelOutputError, match="named no known prompt"):
        create_multi_prompt_optimizer(model).invoke(
            {"trajectories": TRAJECTORIES, "prompts": PROMPTS}
        )


def test_choosing_none_returns_the_prompts_unchanged() -> None:
    model = optimizer_model(choose=[[]])
    result = create_multi_prompt_optimizer(model, kind="metaprompt").invoke(
        {"trajectories": TRAJECTORIES, "prompts": PROMPTS}
    )
    assert result == PROMPTS and len(model.calls) == 1


def test_input_errors() -> None:
    optimizer = create_multi_prompt_optimizer(optimizer_model())
    with pytest.raises(InputError, match="unique"):
        optimizer.invoke({"trajectories": TRAJECTORIES, "prompts": [PROMPTS[0], PROMPTS[0]]})
    with pytest.raises(InputError, match="non-empty list"):
        optimizer.invoke({"trajectories": TRAJECTORIES, "prompts": []})
    with pytest.raises(InputError, match="'name'"):
        optimizer.invoke({"trajectories": TRAJECTORIES, "prompts": [{"prompt": "x"}]})  # type: ignore[typeddict-item]  # no name, on purpose
