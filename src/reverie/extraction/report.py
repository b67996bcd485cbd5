"""What one manager run did with the model: the mode it used, how many calls, why nothing was
stored. Attached to what ``invoke``/``ainvoke`` return without changing LangMem's shapes.

Kept as plain counters and lists so later accounting (tokens, traces) can be added as fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")

NothingStored = Literal[
    "no_new_messages",  # every message was consolidated before; the model was not asked
    "nothing_to_remember",  # the model answered, and chose no operation
    "unusable_reply",  # the model answered in a form no operation could be read from
    "no_change",  # the model's operations left the stored memories as they were
]

REASONS: dict[NothingStored, str] = {
    "no_new_messages": "every message was processed before, so the model was not asked",
    "nothing_to_remember": "the model found nothing worth remembering",
    "unusable_reply": "the model's reply could not be read as memory operations",
    "no_change": "the model's operations matched what was already stored",
}


@dataclass
class RunReport:
    """One run of a memory manager, as the model saw it."""

    mode: str | None = None  # extraction mode of the last model call ("tools", "json_schema", ...)
    modes: list[str] = field(default_factory=list)  # every mode a model call used, in order
    model_calls: int = 0
    rounds: int = 0  # extraction rounds (one per chunk of new messages, plus phases)
    operations: int = 0  # valid operations the model asked for
    rejected_calls: int = 0  # calls rejected (and sent back for correction)
    unusable_replies: int = 0
    fallbacks: list[str] = field(default_factory=list)  # "tools -> json_schema: why"
    warnings: list[str] = field(default_factory=list)
    written: int = 0
    nothing_stored: NothingStored | None = None

    def record_call(self, mode: str) -> None:
        self.model_calls += 1
        self.mode = mode
        if not self.modes or self.modes[-1] != mode:
            self.modes.append(mode)

    def finish(self, written: int) -> None:
        """Settle why nothing was stored, from what the run counted."""
        self.written = written
        if written:
            self.nothing_stored = None
        elif self.model_calls == 0:
            self.nothing_stored = "no_new_messages"
        elif self.operations:
            self.nothing_stored = "no_change"
        elif self.unusable_replies:
            self.nothing_stored = "unusable_reply"
        else:
            self.nothing_stored = "nothing_to_remember"

    @property
    def why_nothing_stored(self) -> str | None:
        """A sentence saying why the run stored nothing; None when it stored something."""
        return REASONS[self.nothing_stored] if self.nothing_stored else None


class ReportedList(list[T]):
    """A plain list (what LangMem returns) that also carries the run's :class:`RunReport`."""

    report: RunReport

    def __init__(self, items: list[T] | tuple[T, ...] = (), report: RunReport | None = None):
        super().__init__(items)
        self.report = report if report is not None else RunReport()


def reported(items: list[T], report: RunReport) -> ReportedList[T]:
    report.finish(len(items))
    return ReportedList(items, report)
