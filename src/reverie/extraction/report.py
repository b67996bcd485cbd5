"""What one manager run did: the model calls it made and what they cost, the mode it used, how
long each phase took, what it changed, and why nothing was stored. Attached to what
``invoke``/``ainvoke`` return without changing LangMem's shapes, and stored as the run's usage
record (``reverie.ledger.usage``).

A flat dataclass of plain values, so it serialises to JSON as it is (:meth:`RunReport.to_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

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
    """One run of a memory manager: what the model was asked, what it cost, what changed."""

    mode: str | None = None  # extraction mode of the last model call ("tools", "json_schema", ...)
    modes: list[str] = field(default_factory=list)  # every mode a model call used, in order
    model_calls: int = 0  # extraction calls (the query model's are counted in query_calls)
    rounds: int = 0  # extraction rounds (one per chunk of new messages, plus phases)
    operations: int = 0  # valid operations the model asked for
    rejected_calls: int = 0  # calls rejected (and sent back for correction)
    unusable_replies: int = 0
    fallbacks: list[str] = field(default_factory=list)  # "tools -> json_schema: why"
    warnings: list[str] = field(default_factory=list)
    written: int = 0
    nothing_stored: NothingStored | None = None
    # Which run: set by a store manager (a plain memory manager's runs have no namespace).
    run_id: str | None = None
    namespace: tuple[str, ...] = ()
    thread_id: str | None = None
    job_id: int | None = None  # the durable queue's job this run was (reverie worker)
    started_at: datetime | None = None
    # What it cost. Tokens come from the provider's usage_metadata; a reply without it is
    # counted offline (tokens_estimated is then True).
    model_name: str | None = None
    query_calls: int = 0  # calls of the manager's query_model
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated: bool = False
    embedding_calls: int = 0  # requests to the store to embed: one per search, one per commit
    embedded_texts: int = 0  # texts in those requests: the queries and the memories written
    # Wall time per phase in milliseconds: retrieval (searches, the query model), the model
    # rounds, the commits; duration_ms is the whole run.
    retrieve_ms: float = 0.0
    model_ms: float = 0.0
    commit_ms: float = 0.0
    duration_ms: float = 0.0
    # What the run's commits changed.
    inserted: int = 0
    updated: int = 0
    superseded: int = 0
    deleted: int = 0
    conflicts: int = 0  # commits that found memories changed meanwhile (the chunk was redone)
    truncated_messages: int = 0  # messages cut to fit the token budget
    memories_not_shown: int = 0  # related memories left out of a prompt by the token budget
    error: str | None = None  # why the run failed ("ConflictError: ..."); None if it did not

    def record_call(self, mode: str) -> None:
        self.model_calls += 1
        self.mode = mode
        if not self.modes or self.modes[-1] != mode:
            self.modes.append(mode)

    def record_tokens(self, input_tokens: int, output_tokens: int, *, estimated: bool) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.tokens_estimated = self.tokens_estimated or estimated

    def count_actions(self, actions: Mapping[str, int], sign: int = 1) -> None:
        """Add (``sign=-1``: take back) the changes a commit makes, by audit action."""
        self.inserted += sign * actions.get("insert", 0)
        self.updated += sign * actions.get("update", 0)
        self.superseded += sign * actions.get("supersede", 0)
        self.deleted += sign * actions.get("delete", 0)

    @property
    def calls(self) -> int:
        """Every model call of the run: extraction and query calls."""
        return self.model_calls + self.query_calls

    @property
    def changed(self) -> int:
        """Memories the run inserted, updated, superseded or deleted."""
        return self.inserted + self.updated + self.superseded + self.deleted

    def finish(self, written: int) -> None:
        """Settle why nothing was stored, from what the run counted."""
        self.written = written
        # A run that only deleted returns no memories, but it did change what is stored.
        if written or self.changed:
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

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON values (lists for tuples, an ISO string for ``started_at``)."""
        data = dict(self.__dict__)  # every field (a plain dataclass); the quickest copy
        data["modes"] = list(self.modes)
        data["fallbacks"] = list(self.fallbacks)
        data["warnings"] = list(self.warnings)
        data["namespace"] = list(self.namespace)
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        """A report from :meth:`to_dict`'s output; keys it does not know are ignored."""
        known = {k: v for k, v in data.items() if k in _FIELDS}
        if "namespace" in known:
            known["namespace"] = tuple(known["namespace"] or ())
        if isinstance(known.get("started_at"), str):
            known["started_at"] = datetime.fromisoformat(known["started_at"])
        return cls(**known)


_FIELDS = tuple(f.name for f in fields(RunReport))


class ReportedList(list[T]):
    """A plain list (what LangMem returns) that also carries the run's :class:`RunReport`."""

    report: RunReport

    def __init__(self, items: list[T] | tuple[T, ...] = (), report: RunReport | None = None):
        super().__init__(items)
        self.report = report if report is not None else RunReport()


def reported(items: list[T], report: RunReport) -> ReportedList[T]:
    report.finish(len(items))
    return ReportedList(items, report)
