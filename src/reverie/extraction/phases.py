"""Extra consolidation passes (LangMem's ``phases``): one extraction engine each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from langchain_core.language_models import BaseChatModel

from reverie.extraction.engine import ExtractionEngine
from reverie.extraction.mode_policy import ModePolicy
from reverie.extraction.schemas import SchemaToolkit

PHASE_INSTRUCTIONS = (
    "Review the stored memories: merge duplicates, fix contradictions, keep them concise."
)


class MemoryPhase(TypedDict, total=False):
    """An extra consolidation pass run after the main extraction."""

    instructions: str
    include_messages: bool
    enable_inserts: bool
    enable_deletes: bool


def phase_engines(
    model: BaseChatModel,
    toolkit: SchemaToolkit,
    phases: Sequence[MemoryPhase] | None,
    *,
    memory_budget_tokens: int,
    policy: ModePolicy,
) -> list[tuple[ExtractionEngine, bool]]:
    """(engine, include_messages) per phase, over the main round's schemas and model policy."""
    return [
        (
            ExtractionEngine(
                model,
                SchemaToolkit(
                    list(toolkit.schemas.values()),
                    enable_inserts=phase.get("enable_inserts", True),
                    enable_updates=True,
                    enable_deletes=phase.get("enable_deletes", True),
                ),
                phase.get("instructions", PHASE_INSTRUCTIONS),
                memory_budget_tokens=memory_budget_tokens,
                policy=policy,
            ),
            phase.get("include_messages", False),
        )
        for phase in phases or []
    ]
