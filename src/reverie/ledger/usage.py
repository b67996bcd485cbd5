"""Usage records: one per manager run, kept in the store next to the memories.

A run's record (its :class:`~reverie.extraction.report.RunReport` as JSON) is written in the
same commit as the run's last chunk of memories, so usage and memories never disagree; a run
that failed records what it had done and spent in a commit of its own. Records are appended
under ``("__reverie__", "usage", *namespace)`` with keys of their own, so concurrent runs of a
namespace never contend for a shared counter (a contended counter would make runs conflict
and ask the model again).

Totals per namespace and day are added up when read. Once a namespace has piled up many
records older than :data:`KEEP_RUNS_DAYS`, a read folds them into one record per day under
``("__reverie__", "usage_days", *namespace)``, in one checked commit, so reads stay cheap.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from langgraph.store.base import PutOp, SearchItem

from reverie.core.effects import Commit, Pipeline
from reverie.core.namespace import RESERVED_ROOT
from reverie.core.ports import Expectation, MemoryStorePort, Write
from reverie.extraction.report import RunReport
from reverie.ledger.search import every_item
from reverie.ledger.usage_totals import DailyUsage, UsageTotals

USAGE_PAGE = 500
# Per-run records are kept this many days (a durable job's usage is read from its record),
# then folded into daily totals once at least FOLD_AT of them have piled up in a namespace.
KEEP_RUNS_DAYS = 7
FOLD_AT = 200

Day = tuple[tuple[str, ...], date]


def usage_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    return (RESERVED_ROOT, "usage", *namespace)


def days_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    return (RESERVED_ROOT, "usage_days", *namespace)


def usage_put(report: RunReport) -> PutOp:
    """The write that stores ``report`` as its run's usage record."""
    if report.run_id is None or report.started_at is None:
        raise ValueError("A usage record needs the run's run_id and started_at.")
    value = report.to_dict()
    # Numbers and a day string, so a range filter works the same on every store.
    value["at_seconds"] = report.started_at.timestamp()
    value["day"] = report.started_at.date().isoformat()
    return PutOp(usage_namespace(report.namespace), report.run_id, value, index=False)


def _start_of(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=timezone.utc).timestamp()


def _report(item: SearchItem) -> RunReport | None:
    try:
        report = RunReport.from_dict(item.value)
    except (TypeError, ValueError):
        return None  # not written by Reverie; a reader must not crash on it
    return report if report.started_at is not None else None


def read_runs(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    *,
    since: datetime | None = None,
    job_id: int | None = None,
    descendants: bool = False,
) -> Pipeline[list[RunReport]]:
    """The usage records of ``namespace``'s runs (started at ``since`` or later; of durable
    job ``job_id`` only), oldest first."""
    filter: dict[str, Any] = {}
    if since is not None:
        filter["at_seconds"] = {"$gte": since.timestamp()}
    if job_id is not None:
        filter["job_id"] = job_id
    items = yield from every_item(
        port,
        usage_namespace(namespace),
        filter=filter or None,
        descendants=descendants,
        page=USAGE_PAGE,
    )
    reports = [r for r in map(_report, items) if r is not None]
    reports.sort(key=lambda r: r.started_at or datetime.min.replace(tzinfo=timezone.utc))
    return reports


def read_usage(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    *,
    since: date | None = None,
    descendants: bool = False,
    today: date | None = None,
) -> Pipeline[list[DailyUsage]]:
    """Totals per namespace and day (UTC) from ``since`` on, oldest first."""
    start = {"$gte": _start_of(since)} if since is not None else None
    days = yield from every_item(
        port,
        days_namespace(namespace),
        filter={"day_start": start} if start else None,
        descendants=descendants,
        page=USAGE_PAGE,
    )
    runs = yield from every_item(
        port,
        usage_namespace(namespace),
        filter={"at_seconds": start} if start else None,
        descendants=descendants,
        page=USAGE_PAGE,
    )
    totals: dict[Day, UsageTotals] = defaultdict(UsageTotals)
    rollups: dict[Day, SearchItem] = {}
    for item in days:
        try:
            day = (tuple(item.namespace[2:]), date.fromisoformat(item.key))
            totals[day].add(UsageTotals.from_dict(item.value.get("totals") or {}))
        except (TypeError, ValueError):
            continue
        rollups[day] = item
    older: dict[Day, list[tuple[SearchItem, RunReport]]] = defaultdict(list)
    horizon = (today or datetime.now(timezone.utc).date()) - timedelta(days=KEEP_RUNS_DAYS)
    for item in runs:
        report = _report(item)
        if report is None or report.started_at is None:
            continue
        day = (tuple(item.namespace[2:]), report.started_at.date())
        totals[day].add_run(report)
        if day[1] < horizon:
            older[day].append((item, report))
    if sum(len(records) for records in older.values()) >= FOLD_AT:
        yield from _fold(port, older, rollups)
    return [DailyUsage(ns, day, totals[(ns, day)]) for ns, day in sorted(totals)]


def _fold(
    port: MemoryStorePort,
    older: dict[Day, list[tuple[SearchItem, RunReport]]],
    rollups: dict[Day, SearchItem],
) -> Pipeline[None]:
    """Replace old run records by their day's totals, in one commit that expects both exactly as
    read: a concurrent fold makes it write nothing (the totals read are right either way)."""
    expected: list[Expectation] = []
    writes: list[Write] = []
    for (namespace, day), records in older.items():
        folded = UsageTotals()
        existing = rollups.get((namespace, day))
        if existing is not None:
            folded.add(UsageTotals.from_dict(existing.value.get("totals") or {}))
            expected.append(Expectation.of(existing))
        else:
            expected.append(Expectation(days_namespace(namespace), day.isoformat(), None))
        for item, report in records:
            folded.add_run(report)
            expected.append(Expectation.of(item))
            writes.append(PutOp(tuple(item.namespace), item.key, None))
        value = {"day": day.isoformat(), "day_start": _start_of(day), "totals": folded.to_dict()}
        writes.append(PutOp(days_namespace(namespace), day.isoformat(), value, index=False))
    yield from Commit(port, expected, writes)
