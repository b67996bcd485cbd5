"""create_prompt_optimizer: the three kinds, template variables, inputs, sync and async."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reverie import ConfigurationError, InputError, ModelOutputError
from reverie.procedural import AnnotatedTrajectory, OptimizerInput, create_prompt_optimizer
from reverie.procedural.strategies import Kind
from tests.procedural.scripts import optimizer_model

CONVERSATION = [
    {"role": "user", "content": "Tell me about the solar system"},
    {"role": "assistant", "content": "The solar system consists of the Sun and ... (900 words)"},
]
TRAJECTORIES = [(CONVERSATION, {"clarity": "needs more structure", "score": 2})]
BETTER = "You are an astronomy expert. Answer in two sentences."


def optimize(
    kind: Kind, model: Any, mode: str, prompt: Any = "You are an astronomy expert", **kw: Any
) -> str:
    optimizer = create_prompt_optimizer(model, kind=kind, **kw)
    payload: OptimizerInput = {"trajectories": TRAJECTORIES, "prompt": prompt}
    if mode == "sync":
        return optimizer.invoke(payload)
    return asyncio.run(optimizer.ainvoke(payload))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_prompt_memory_is_one_call(mode: str) -> None:
    model = optimizer_model(improved=BETTER)
    assert optimize("prompt_memory", model, mode) == BETTER
    (call,) = model.calls
    assert call.request.tool_names == ["update_prompt"]
    assert "needs more structure" in call.request.text and "score: 2" in call.request.text
    assert "The solar system consists" in call.request.text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_metaprompt_reflects_then_answers(mode: str) -> None:
    model = optimizer_model(improved=BETTER, think_first=2)
    assert (
        optimize(
            "metaprompt", model, mode, config={"max_reflection_steps": 4, "min_reflection_steps": 2}
        )
        == BETTER
    )
    offered = [c.request.tool_names for c in model.calls]
    assert offered[0] == ["think", "critique"]  # before min_reflection_steps: no answer yet
    assert offered[1] == ["think", "critique", "update_prompt"]
    assert len(model.calls) == 3


def test_metaprompt_must_answer_at_the_last_step() -> None:
    model = optimizer_model(improved=BETTER, think_first=10)
    assert optimize("metaprompt", model, "sync", config={"max_reflection_steps": 3}) == BETTER
    assert [c.request.tool_names for c in model.calls][-1] == ["update_prompt"]
    assert len(model.calls) == 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gradient_diagnoses_then_rewrites(mode: str) -> None:
    model = optimizer_model(improved=BETTER, think_first=1)
    assert optimize("gradient", model, mode) == BETTER
    names = [c.request.tool_names for c in model.calls]
    assert names == [["think", "critique"], ["think", "critique", "recommend"], ["update_prompt"]]
    rewrite = model.calls[-1].request.text
    assert "never asks for brevity" in rewrite and "two sentences" in rewrite


def test_gradient_without_a_warranted_change_keeps_the_prompt() -> None:
    model = optimizer_model(improved="never used", warrants=False)
    assert (
        optimize("gradient", model, "sync", prompt={"name": "p", "prompt": "Be nice."})
        == "Be nice."
    )
    assert "update_prompt" not in [n for c in model.calls for n in c.request.tool_names]


def test_an_empty_answer_keeps_the_prompt() -> None:
    assert (
        optimize("prompt_memory", optimizer_model(improved=""), "sync")
        == "You are an astronomy expert"
    )


def test_template_variables_are_kept_and_other_braces_escaped() -> None:
    model = optimizer_model(
        improved=["Help {user} briefly.", 'Help {user_name} briefly. Reply as {"answer": ...}.']
    )
    result = optimize("prompt_memory", model, "sync", prompt="You help {user_name}.")
    assert result == 'Help {user_name} briefly. Reply as {{"answer": ...}}.'
    assert result.format(user_name="Ada") == 'Help Ada briefly. Reply as {"answer": ...}.'
    retry = model.calls[1].request.messages
    assert retry[-1].type == "tool" and "{user_name}" in retry[-1].text


def test_a_model_that_keeps_dropping_variables_changes_nothing() -> None:
    model = optimizer_model(improved="Help briefly.")
    with pytest.raises(ModelOutputError, match="user_name"):
        optimize("prompt_memory", model, "sync", prompt="You help {user_name}.")


def test_trajectory_shapes() -> None:
    model = optimizer_model(improved=BETTER)
    optimizer = create_prompt_optimizer(model, kind="prompt_memory")
    shapes: list[Any] = [
        [AnnotatedTrajectory(CONVERSATION, "too long")],
        (CONVERSATION, "too long"),
        CONVERSATION,
        [CONVERSATION],
        "A session where the answer was too long.",
    ]
    for shape in shapes:
        assert optimizer.invoke({"trajectories": shape, "prompt": "p"}) == BETTER
    assert "too long" in model.calls[0].request.text
    assert "<trajectory 2>" not in model.calls[0].request.text


def test_await_the_optimizer_directly() -> None:
    optimizer = create_prompt_optimizer(optimizer_model(improved=BETTER), kind="metaprompt")
    assert asyncio.run(optimizer(TRAJECTORIES, "You are an astronomy expert")) == BETTER


def test_no_trajectories_no_call() -> None:
    model = optimizer_model(improved=BETTER)
    assert create_prompt_optimizer(model).invoke({"trajectories": [], "prompt": "p"}) == "p"
    assert model.calls == []


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("evolution", None, "kind must be one of"),
        ("prompt_memory", {"max_reflection_steps": 2}, "does not use"),
        ("metaprompt", {"metaprompt": "Improve {prompt} using {examples}"}, "examples"),
        ("gradient", {"gradient_prompt": "Bad { brace"}, "not a valid template"),
        ("metaprompt", {"max_reflection_steps": 0}, "max_reflection_steps"),
        ("gradient", {"min_reflection_steps": 6}, "min_reflection_steps <="),
        ("gradient", "fast", "config must be a dict"),
    ],
)
def test_configuration_errors(kind: str, config: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_prompt_optimizer(optimizer_model(), kind=kind, config=config)  # type: ignore[arg-type]  # deliberately wrong type


def test_input_errors() -> None:
    optimizer = create_prompt_optimizer(optimizer_model())
    with pytest.raises(InputError, match="'prompt'"):
        optimizer.invoke({"trajectories": TRAJECTORIES})  # type: ignore[typeddict-item]  # no prompt, on purpose
    with pytest.raises(InputError, match="prompt text or a Prompt dict"):
        optimizer.invoke({"trajectories": TRAJECTORIES, "prompt": 3})  # type: ignore[typeddict-item]  # deliberately wrong type
    with pytest.raises(InputError, match="Cannot read trajectory"):
        optimizer.invoke({"trajectories": [42], "prompt": "p"})  # type: ignore[list-item]  # deliberately wrong type
