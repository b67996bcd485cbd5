"""The shapes prompt optimization reads and returns (LangMem's ``langmem.prompts.types``).

No ``from __future__ import annotations`` here: TypedDict reads ``Required`` from the real
annotations to know which keys are required.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

from typing_extensions import Required, TypedDict


class Prompt(TypedDict, total=False):
    """A named prompt to optimize.

    ``name`` and ``prompt`` are required. ``update_instructions`` says how the prompt may be
    changed; ``when_to_update`` says when it is the one to change (used by the multi-prompt
    optimizer to attribute feedback among several prompts).
    """

    name: Required[str]
    prompt: Required[str]
    update_instructions: str | None
    when_to_update: str | None


class AnnotatedTrajectory(NamedTuple):
    """One conversation (or other work of the agent) with optional feedback on it."""

    messages: Sequence[Any]
    feedback: dict[str, str | int | bool] | str | None = None


# An AnnotatedTrajectory, a (messages, feedback) pair or a list of messages.
Trajectory = AnnotatedTrajectory | tuple[Any, Any] | Sequence[Any]


class OptimizerInput(TypedDict):
    """Input of a single-prompt optimizer."""

    trajectories: Sequence[Trajectory] | str
    prompt: str | Prompt


class MultiPromptOptimizerInput(TypedDict):
    """Input of the multi-prompt optimizer."""

    trajectories: Sequence[Trajectory] | str
    prompts: list[Prompt]


class GradientOptimizerConfig(TypedDict, total=False):
    """Settings of the ``gradient`` optimizer.

    ``gradient_prompt`` (diagnosis; may use ``{prompt}``, ``{update_instructions}``,
    ``{trajectories}``, ``{feedback}``), ``metaprompt`` (the rewrite; may use
    ``{current_prompt}``, ``{hypotheses}``, ``{recommendations}``, ``{update_instructions}``),
    ``max_reflection_steps`` (default 5) and ``min_reflection_steps`` (default 1).
    """

    gradient_prompt: str
    metaprompt: str
    max_reflection_steps: int
    min_reflection_steps: int


class MetapromptOptimizerConfig(TypedDict, total=False):
    """Settings of the ``metaprompt`` optimizer.

    ``metaprompt`` (may use ``{prompt}``, ``{update_instructions}``, ``{trajectories}``),
    ``max_reflection_steps`` (default 5) and ``min_reflection_steps`` (default 1).
    """

    metaprompt: str
    max_reflection_steps: int
    min_reflection_steps: int


__all__ = [
    "AnnotatedTrajectory",
    "GradientOptimizerConfig",
    "MetapromptOptimizerConfig",
    "MultiPromptOptimizerInput",
    "OptimizerInput",
    "Prompt",
]
