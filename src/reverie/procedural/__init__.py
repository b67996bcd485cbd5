"""Procedural memory: prompts that improve from experience (LangMem's ``langmem.prompts``).

``create_prompt_optimizer`` proposes a better prompt from trajectories and feedback;
``create_multi_prompt_optimizer`` first decides which of several prompts the feedback is
about. ``PromptRegistry`` keeps prompts in a store with every version.
"""

from reverie.procedural.multi import MultiPromptOptimizer, create_multi_prompt_optimizer
from reverie.procedural.optimizer import PromptOptimizer, create_prompt_optimizer
from reverie.procedural.registry import PromptRegistry, PromptVersion
from reverie.procedural.types import (
    AnnotatedTrajectory,
    GradientOptimizerConfig,
    MetapromptOptimizerConfig,
    MultiPromptOptimizerInput,
    OptimizerInput,
    Prompt,
)

__all__ = [
    "AnnotatedTrajectory",
    "GradientOptimizerConfig",
    "MetapromptOptimizerConfig",
    "MultiPromptOptimizer",
    "MultiPromptOptimizerInput",
    "OptimizerInput",
    "Prompt",
    "PromptOptimizer",
    "PromptRegistry",
    "PromptVersion",
    "create_multi_prompt_optimizer",
    "create_prompt_optimizer",
]
