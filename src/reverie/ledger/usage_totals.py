"""Usage added up: per namespace and per day, from the runs' usage records.

Pure data: reading and storing them is ``reverie.ledger.usage``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from reverie.extraction.report import RunReport

UNKNOWN_MODEL = "unknown"


@dataclass
class UsageTotals:
    """What a set of runs did and cost, added up."""

    runs: int = 0
    failed_runs: int = 0
    calls: int = 0  # model calls: extraction and query calls
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_runs: int = 0  # runs whose tokens were counted offline, not reported by the model
    embedding_calls: int = 0
    embedded_texts: int = 0
    inserted: int = 0
    updated: int = 0
    superseded: int = 0
    deleted: int = 0
    # Input and output tokens per model name, to price them (``reverie stats --price``).
    tokens_by_model: dict[str, list[int]] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add_run(self, report: RunReport) -> None:
        self.runs += 1
        self.failed_runs += report.error is not None
        self.calls += report.calls
        self.input_tokens += report.input_tokens
        self.output_tokens += report.output_tokens
        self.estimated_runs += report.tokens_estimated
        self.embedding_calls += report.embedding_calls
        self.embedded_texts += report.embedded_texts
        self.inserted += report.inserted
        self.updated += report.updated
        self.superseded += report.superseded
        self.deleted += report.deleted
        if report.input_tokens or report.output_tokens:
            self._add_model(
                report.model_name or UNKNOWN_MODEL, report.input_tokens, report.output_tokens
            )

    def add(self, other: UsageTotals) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for model, (input_tokens, output_tokens) in other.tokens_by_model.items():
            self._add_model(model, input_tokens, output_tokens)

    def _add_model(self, model: str, input_tokens: int, output_tokens: int) -> None:
        both = self.tokens_by_model.setdefault(model, [0, 0])
        both[0] += input_tokens
        both[1] += output_tokens

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTS}
        data["tokens_by_model"] = {m: list(v) for m, v in self.tokens_by_model.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UsageTotals:
        totals = cls()
        for name in _COUNTS:
            setattr(totals, name, int(data.get(name) or 0))
        by_model = data.get("tokens_by_model")
        if isinstance(by_model, dict):
            for model, pair in by_model.items():
                if isinstance(pair, list) and len(pair) == 2:
                    totals._add_model(str(model), int(pair[0]), int(pair[1]))
        return totals


_COUNTS = tuple(f.name for f in fields(UsageTotals) if f.name != "tokens_by_model")


@dataclass(frozen=True)
class DailyUsage:
    """The totals of one namespace on one day (UTC)."""

    namespace: tuple[str, ...]
    day: date
    totals: UsageTotals


def overall(days: Iterable[DailyUsage]) -> UsageTotals:
    """The totals of several days (and namespaces) together."""
    total = UsageTotals()
    for day in days:
        total.add(day.totals)
    return total
