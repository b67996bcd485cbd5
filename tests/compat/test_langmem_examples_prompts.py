"""LangMem's prompt optimization examples (the two guides and the docstrings), with only the
import changed (langmem -> reverie) and the model scripted."""

from __future__ import annotations

import asyncio
from typing import Any

from reverie import Prompt, create_multi_prompt_optimizer, create_prompt_optimizer
from reverie.procedural.types import AnnotatedTrajectory
from tests.procedural.scripts import optimizer_model

IMPROVED = "You are a planetary science expert. End with 2-3 follow-up questions."

# The guide's trajectories: no annotation, a score with a comment, a revision.
trajectories: list[Any] = [
    (
        [
            {"role": "user", "content": "Tell me about Mars"},
            {"role": "assistant", "content": "Mars is the fourth planet..."},
            {"role": "user", "content": "I wanted more about its moons"},
        ],
        None,
    ),
    (
        [
            {"role": "user", "content": "What are Mars' moons?"},
            {"role": "assistant", "content": "Mars has two moons: Phobos and Deimos..."},
        ],
        {
            "score": 0.9,
            "comment": "Should include more details and recommended follow-up questions",
        },
    ),
    (
        [
            {"role": "user", "content": "Compare Mars and Earth"},
            {"role": "assistant", "content": "Mars and Earth have many differences..."},
        ],
        {"revised": "Earth and Mars have many similarities and differences..."},
    ),
]


def test_optimize_a_prompt_guide() -> None:
    model = optimizer_model(improved=IMPROVED)
    optimizer = create_prompt_optimizer(
        model, kind="metaprompt", config={"max_reflection_steps": 1, "min_reflection_steps": 0}
    )
    updated = optimizer.invoke(
        {"trajectories": trajectories, "prompt": "You are a planetary science expert"}
    )
    assert updated == IMPROVED
    assert len(model.calls) == 1
    request = model.calls[0].request.text
    assert "recommended follow-up questions" in request and "revised: Earth and Mars" in request

    optimizer = create_prompt_optimizer(
        optimizer_model(improved=IMPROVED, think_first=1),
        kind="gradient",
        config={"max_reflection_steps": 3, "min_reflection_steps": 1},
    )
    assert (
        optimizer.invoke(
            {"trajectories": trajectories, "prompt": "You are a planetary science expert"}
        )
        == IMPROVED
    )

    optimizer = create_prompt_optimizer(optimizer_model(improved=IMPROVED), kind="prompt_memory")
    assert (
        optimizer.invoke(
            {"trajectories": trajectories, "prompt": "You are a planetary science expert"}
        )
        == IMPROVED
    )


def test_optimize_multiple_prompts_guide() -> None:
    conversations: list[Any] = [
        (
            [
                {"role": "user", "content": "Research quantum computing advances"},
                {"role": "assistant", "content": "Found several papers on quantum supremacy..."},
                {"role": "assistant", "content": "Recent quantum computing developments show..."},
                {"role": "user", "content": "The report is missing implementation details"},
            ],
            None,
        ),
        (
            [
                {"role": "user", "content": "Analyze new ML models"},
                {"role": "assistant", "content": "Key findings on architecture: ..."},
                {"role": "assistant", "content": "Based on the research, these models..."},
                {"role": "user", "content": "Great report, very thorough"},
            ],
            {"score": 0.95},
        ),
    ]
    prompts: list[Prompt] = [
        {"name": "researcher", "prompt": "You analyze technical papers and extract key findings"},
        {"name": "writer", "prompt": "You write clear reports based on research findings"},
    ]
    better = (
        "You analyze technical papers and extract key findings, including implementation details."
    )
    optimizer = create_multi_prompt_optimizer(
        optimizer_model(choose=[["researcher"]], improved=better, think_first=1),
        kind="gradient",
        config={"max_reflection_steps": 3},
    )
    updated = optimizer.invoke({"trajectories": conversations, "prompts": prompts})
    assert updated == [{"name": "researcher", "prompt": better}, prompts[1]]


def test_prompt_optimizer_docstring_examples() -> None:
    async def examples() -> None:
        optimizer = create_prompt_optimizer(
            optimizer_model(improved="Provide a comprehensive overview...")
        )
        conversation = [
            {"role": "user", "content": "Tell me about the solar system"},
            {"role": "assistant", "content": "The solar system consists of..."},
        ]
        feedback: Any = {"clarity": "needs more structure"}
        trajectories = [(conversation, feedback)]
        better_prompt = await optimizer.ainvoke(
            {"trajectories": trajectories, "prompt": "You are an astronomy expert"}
        )
        assert better_prompt == "Provide a comprehensive overview..."

        optimizer = create_prompt_optimizer(
            optimizer_model(improved="You are a coding assistant that always includes..."),
            kind="prompt_memory",
        )
        conversation = [
            {"role": "user", "content": "How do I write a bash script?"},
            {"role": "assistant", "content": "Let me explain bash scripting..."},
        ]
        feedback = "Response should include a code example"
        trajectories = [(conversation, {"feedback": feedback})]
        better_prompt = await optimizer(trajectories, "You are a coding assistant")
        assert better_prompt.startswith("You are a coding assistant that always includes")

        optimizer = create_prompt_optimizer(
            optimizer_model(improved="You are a quantum computing expert. Use sections."),
            kind="metaprompt",
            config={"max_reflection_steps": 3, "min_reflection_steps": 1},
        )
        conversation = [
            {"role": "user", "content": "Explain quantum computing"},
            {"role": "assistant", "content": "Quantum computing uses..."},
        ]
        feedback = "Need better organization and concrete examples"
        trajectories = [(conversation, feedback)]
        improved_prompt = await optimizer(trajectories, "You are a quantum computing expert")
        assert improved_prompt == "You are a quantum computing expert. Use sections."

    asyncio.run(examples())


def test_multi_prompt_optimizer_docstring_examples() -> None:
    async def examples() -> None:
        conversation = [
            {"role": "user", "content": "Tell me about the solar system"},
            {"role": "assistant", "content": "The solar system consists of..."},
        ]
        feedback: Any = {"clarity": "needs more structure"}
        trajectories: Any = [(conversation, feedback)]
        prompts: list[Any] = [
            {"name": "research", "prompt": "Research the given topic thoroughly"},
            {"name": "summarize", "prompt": "Summarize the research findings"},
        ]
        optimizer = create_multi_prompt_optimizer(
            optimizer_model(choose=[["summarize"]], improved="Summarize with headings")
        )
        better_prompts = await optimizer.ainvoke({"trajectories": trajectories, "prompts": prompts})
        assert better_prompts[1]["prompt"] == "Summarize with headings"

        optimizer = create_multi_prompt_optimizer(
            optimizer_model(choose=[["example"]], improved="Provide a practical bash example"),
            kind="prompt_memory",
        )
        trajectories = [(conversation, {"feedback": "Response should include a code example"})]
        prompts = [
            {"name": "explain", "prompt": "Explain the concept"},
            {"name": "example", "prompt": "Provide a practical example"},
        ]
        better_prompts = await optimizer(trajectories, prompts)
        assert [p["prompt"] for p in better_prompts] == [
            "Explain the concept",
            "Provide a practical bash example",
        ]

        optimizer = create_multi_prompt_optimizer(
            optimizer_model(choose=[[]]),
            kind="metaprompt",
            config={"max_reflection_steps": 3, "min_reflection_steps": 1},
        )
        trajectories = [(conversation, None)]
        prompts = [
            {"name": "concept", "prompt": "Explain quantum concepts"},
            {"name": "application", "prompt": "Show practical applications"},
            {"name": "example", "prompt": "Give concrete examples"},
        ]
        assert await optimizer(trajectories, prompts) == prompts

    asyncio.run(examples())


def test_prompt_and_trajectory_type_examples() -> None:
    prompt = Prompt(
        name="extract_entities",
        prompt="Extract key entities from the text:",
        update_instructions="Make minimal changes, only address where errors have occurred after reasoning over why they occur.",
        when_to_update="If there seem to be errors in recall of named entities.",
    )
    trajectory = AnnotatedTrajectory(
        messages=[
            {"role": "user", "content": "What pizza is good around here?"},
            {"role": "assistant", "content": "Try LangPizza™️"},
            {"role": "user", "content": "Stop advertising to me."},
            {"role": "assistant", "content": "BUT YOU'LL LOVE IT!"},
        ],
        feedback={"developer_feedback": "too pushy", "score": 0},
    )
    model = optimizer_model(
        improved="Extract key entities from the text, including people's names:"
    )
    result = create_prompt_optimizer(model, kind="prompt_memory").invoke(
        {"trajectories": [trajectory], "prompt": prompt}
    )
    assert result == "Extract key entities from the text, including people's names:"
    assert "developer_feedback: too pushy" in model.calls[0].request.text
    assert "Make minimal changes" in model.calls[0].request.text
