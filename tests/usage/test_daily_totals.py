"""Daily totals: added up from the run records when read, and old records folded into one
record per day once many have piled up."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from langgraph.store.base import BaseStore

from reverie.core.effects import run
from reverie.extraction.report import RunReport
from reverie.ledger import port_for
from reverie.ledger.usage import FOLD_AT, days_namespace, read_usage, usage_namespace, usage_put
from reverie.ledger.usage_totals import UsageTotals, overall

NS = ("memories", "ann")
TODAY = date(2026, 3, 20)


def record(store: BaseStore, index: int, started: datetime, **fields: object) -> RunReport:
    values: dict[str, object] = {
        "model_name": "gpt-test",
        "model_calls": 1,
        "input_tokens": 100,
        "output_tokens": 10,
        "inserted": 1,
        **fields,
    }
    report = RunReport(run_id=f"run-{index}", namespace=NS, started_at=started)
    for name, value in values.items():
        setattr(report, name, value)
    store.batch([usage_put(report)])
    return report


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def test_totals_are_added_up_per_day(any_store: BaseStore) -> None:
    record(any_store, 1, at(TODAY))
    record(any_store, 2, at(TODAY, 23), error="ProviderError: boom", tokens_estimated=True)
    record(any_store, 3, at(TODAY - timedelta(days=1)))
    record(any_store, 4, at(TODAY - timedelta(days=3)), model_name=None)
    port = port_for(any_store)
    days = run(read_usage(port, NS, today=TODAY))
    assert [(d.day, d.totals.runs) for d in days] == [
        (TODAY - timedelta(days=3), 1),
        (TODAY - timedelta(days=1), 1),
        (TODAY, 2),
    ]
    today = days[-1].totals
    assert (today.failed_runs, today.estimated_runs, today.input_tokens) == (1, 1, 200)
    assert overall(days).tokens_by_model == {"gpt-test": [300, 30], "unknown": [100, 10]}
    since = run(read_usage(port, NS, since=TODAY - timedelta(days=1), today=TODAY))
    assert overall(since).runs == 3
    assert run(read_usage(port, ("memories", "bob"), today=TODAY)) == []


def test_old_records_are_folded_into_one_record_per_day(any_store: BaseStore) -> None:
    old = TODAY - timedelta(days=30)
    for i in range(FOLD_AT):
        record(any_store, i, at(old - timedelta(days=i % 2), hour=i % 24))
    record(any_store, FOLD_AT, at(TODAY))  # recent: kept as it is
    port = port_for(any_store)
    before = run(read_usage(port, NS, today=TODAY))  # reads, then folds
    assert any_store.search(usage_namespace(NS), limit=1000) != []
    (recent,) = any_store.search(usage_namespace(NS), limit=1000)
    assert recent.key == f"run-{FOLD_AT}"
    folded = sorted(i.key for i in any_store.search(days_namespace(NS), limit=100))
    assert folded == [(old - timedelta(days=1)).isoformat(), old.isoformat()]

    after = run(read_usage(port, NS, today=TODAY))
    assert after == before
    assert overall(after) == UsageTotals(
        runs=FOLD_AT + 1,
        calls=FOLD_AT + 1,
        input_tokens=100 * (FOLD_AT + 1),
        output_tokens=10 * (FOLD_AT + 1),
        inserted=FOLD_AT + 1,
        tokens_by_model={"gpt-test": [100 * (FOLD_AT + 1), 10 * (FOLD_AT + 1)]},
    )
    assert overall(run(read_usage(port, NS, since=old, today=TODAY))).runs == FOLD_AT // 2 + 1

    # A late record for a folded day adds to its totals, and folds into them later.
    record(any_store, FOLD_AT + 1, at(old, hour=5))
    assert overall(run(read_usage(port, NS, today=TODAY))).runs == FOLD_AT + 2
