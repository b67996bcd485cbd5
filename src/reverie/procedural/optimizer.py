"""``create_prompt_optimizer``: propose an improved prompt from trajectories and feedback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig

from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import InputError
from reverie.extraction.models import resolve_chat_model
from reverie.procedural.strategies import Kind, Strategy
from reverie.procedural.trajectories import read_prompt, read_trajectories, render_trajectories
from reverie.procedural.types import (
    GradientOptimizerConfig,
    MetapromptOptimizerConfig,
    OptimizerInput,
    Prompt,
    Trajectory,
)


def _field(input: Any, key: str) -> Any:
    if not isinstance(input, Mapping) or key not in input:
        raise InputError(
            f"The optimizer's input must be a dict with {key!r} (and 'trajectories'), got "
            f"{type(input).__name__}."
        )
    return input[key]


class PromptOptimizer(Runnable[OptimizerInput, str]):
    """Runnable from ``{"trajectories": ..., "prompt": ...}`` to the improved prompt text.

    Also ``await optimizer(trajectories, prompt)``.
    """

    def __init__(self, model: str | BaseChatModel, kind: Kind, config: Any) -> None:
        self.model = resolve_chat_model(model)
        self.kind = kind
        self.strategy = Strategy.create(kind, self.model, config)

    def pipeline(self, input: Any, config: RunnableConfig | None = None) -> Pipeline[str]:
        prompt = read_prompt(_field(input, "prompt"))
        sessions = render_trajectories(read_trajectories(_field(input, "trajectories")))
        if not sessions:
            return prompt.text  # nothing to learn from
        return (yield from self.strategy.improve(prompt, sessions, config))

    def invoke(
        self, input: OptimizerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        return run(self.pipeline(input, config))

    async def ainvoke(
        self, input: OptimizerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        return await arun(self.pipeline(input, config))

    async def __call__(self, trajectories: Sequence[Trajectory] | str, prompt: str | Prompt) -> str:
        return await self.ainvoke({"trajectories": trajectories, "prompt": prompt})


def create_prompt_optimizer(
    model: str | BaseChatModel,
    /,
    *,
    kind: Kind = "gradient",
    config: GradientOptimizerConfig | MetapromptOptimizerConfig | None = None,
) -> PromptOptimizer:
    """An optimizer that proposes a better prompt from trajectories (conversations with
    optional feedback).

    ``kind``: ``"gradient"`` (diagnose, then rewrite only if warranted; 2-6 calls by default),
    ``"metaprompt"`` (reflect, then rewrite; 1-5 calls) or ``"prompt_memory"`` (one call).
    ``config``: :class:`GradientOptimizerConfig` or :class:`MetapromptOptimizerConfig`
    (prompt templates, ``max_reflection_steps``, ``min_reflection_steps``); none for
    ``prompt_memory``.

    Input ``{"trajectories": [(messages, feedback), ...], "prompt": "..." | Prompt}``; output
    the improved prompt text, or the same text when no change is warranted. Template variables
    (``{name}``) of the prompt are always kept.
    """
    return PromptOptimizer(model, kind, config)
