"""``reverie stats``' usage part: what memory runs did and cost, per day, and in money.

``--since 7d`` (or ``24h``, ``2w``, a date ``2026-01-31``) picks the days (UTC) from that one on;
``--price MODEL=INPUT,OUTPUT`` (dollars per million tokens, repeatable) turns tokens into money;
``--job ID`` shows the runs of one durable job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from rich.markup import escape
from rich.table import Table

from reverie.cli import render
from reverie.cli.naming import format_namespace
from reverie.core.effects import run
from reverie.core.errors import ConfigurationError
from reverie.core.ports import MemoryStorePort
from reverie.extraction.report import RunReport
from reverie.ledger.usage import read_runs, read_usage
from reverie.ledger.usage_totals import DailyUsage, UsageTotals, overall

_SPAN = re.compile(r"^(\d+)\s*([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(text: str, now: datetime | None = None) -> date:
    """``7d`` / ``24h`` / ``2w`` ago, or a date (``2026-01-31``), as a UTC day."""
    text = text.strip().lower()
    now = now or datetime.now(timezone.utc)
    span = _SPAN.match(text)
    if span:
        return (now - int(span.group(1)) * _UNITS[span.group(2)]).date()
    if text == "today":
        return now.date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"--since {text!r} is not understood: write a span like '7d', '24h' or '2w', or a "
            "date like '2026-01-31'."
        ) from None


@dataclass(frozen=True)
class Price:
    """Dollars per million input and output tokens of one model."""

    model: str
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


def parse_price(text: str) -> Price:
    """``gpt-4.1-mini=0.40,1.60``: the model's name as runs record it, then dollars per million
    input and output tokens."""
    model, _, figures = text.partition("=")
    parts = figures.split(",")
    try:
        if not model.strip() or len(parts) != 2:
            raise ValueError
        prices = [float(p) for p in parts]
        if any(p < 0 or p != p for p in prices):
            raise ValueError
    except ValueError:
        raise ConfigurationError(
            f"--price {text!r} is not understood: write MODEL=INPUT,OUTPUT in dollars per "
            "million tokens, e.g. gpt-4.1-mini=0.40,1.60."
        ) from None
    return Price(model.strip(), prices[0], prices[1])


def cost_of(totals: UsageTotals, prices: dict[str, Price]) -> tuple[float, list[str]]:
    """The cost of ``totals``' tokens, and the models that have no price."""
    cost = 0.0
    unpriced = []
    for model, (input_tokens, output_tokens) in sorted(totals.tokens_by_model.items()):
        price = prices.get(model)
        if price is None:
            unpriced.append(model)
        else:
            cost += price.cost(input_tokens, output_tokens)
    return cost, unpriced


def read(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    descendants: bool,
    since: date | None,
    job: int | None,
) -> list[DailyUsage] | list[RunReport]:
    """The daily usage of ``namespace`` (and below it, with ``descendants``) from ``since``; or,
    with ``job``, the runs of that durable job (whatever their namespace)."""
    if job is not None:
        return run(read_runs(port, (), job_id=job, descendants=True))
    return run(read_usage(port, namespace, since=since, descendants=descendants))


def show(
    usage: list[DailyUsage] | list[RunReport],
    since: date | None,
    prices: list[Price],
    job: int | None,
) -> None:
    """Print what :func:`read` found."""
    if job is not None:
        _print_job([r for r in usage if isinstance(r, RunReport)], job)
    else:
        _print_days([d for d in usage if isinstance(d, DailyUsage)], since, prices)


def _print_days(days: list[DailyUsage], since: date | None, prices: list[Price]) -> None:
    window = f"since {since.isoformat()} (UTC)" if since else "recorded"
    if not days:
        if since is not None:
            render.out.print(f"No memory runs {window}.")
        return
    by_price = {p.model: p for p in prices}
    total = overall(days)
    estimated = (
        f", estimated for {render.count(total.estimated_runs, 'run')}"
        if total.estimated_runs
        else ""
    )
    render.out.print(
        f"[bold]Memory runs {window}:[/] {render.count(total.runs, 'run')}"
        f" ({total.failed_runs} failed), {render.count(total.calls, 'model call')}, "
        f"{total.input_tokens:,} input + {total.output_tokens:,} output tokens{estimated}, "
        f"{render.count(total.embedding_calls, 'embedding request')}; memories "
        f"+{total.inserted} inserted, ~{total.updated} updated, >{total.superseded} superseded, "
        f"-{total.deleted} deleted."
    )
    render.out.print(_day_table(days, by_price))
    if prices:
        cost, unpriced = cost_of(total, by_price)
        line = f"Cost: ${cost:,.4f}"
        if unpriced:
            line += f" (no --price for {', '.join(escape(m) for m in unpriced)}: not counted)"
        render.out.print(line + ".")


def _day_table(days: list[DailyUsage], prices: dict[str, Price]) -> Table:
    per_day: dict[date, UsageTotals] = {}
    namespaces = {d.namespace for d in days}
    for d in days:
        per_day.setdefault(d.day, UsageTotals()).add(d.totals)
    title = format_namespace(next(iter(namespaces))) if len(namespaces) == 1 else "all namespaces"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("day", no_wrap=True)
    for column in ("runs", "failed", "calls", "input tokens", "output tokens", "+", "~", ">", "-"):
        table.add_column(column, justify="right")
    if prices:
        table.add_column("cost $", justify="right", no_wrap=True)
    for day, t in sorted(per_day.items()):
        row = [day.isoformat(), str(t.runs), str(t.failed_runs), str(t.calls)]
        row += [f"{t.input_tokens:,}", f"{t.output_tokens:,}"]
        row += [str(t.inserted), str(t.updated), str(t.superseded), str(t.deleted)]
        if prices:
            row.append(f"{cost_of(t, prices)[0]:,.4f}")
        table.add_row(*row)
    return table


def _print_job(runs: list[RunReport], job_id: int) -> None:
    """The runs of durable job ``job_id`` (one per attempt that did something)."""
    if not runs:
        render.out.print(
            f"No memory run of job {job_id} is recorded (not run yet, or nothing new to do)."
        )
        return
    table = Table("started (UTC)", "namespace", "calls", "input tokens", "output tokens", "+~>-")
    table.add_column("outcome")
    table.title, table.title_justify = f"job {job_id}", "left"
    for r in runs:
        started = f"{r.started_at:%Y-%m-%d %H:%M:%S}" if r.started_at else "-"
        changes = f"{r.inserted} {r.updated} {r.superseded} {r.deleted}"
        outcome = r.error or r.nothing_stored or f"{r.written} written"
        table.add_row(
            started,
            escape(format_namespace(r.namespace)),
            str(r.calls),
            f"{r.input_tokens:,}",
            f"{r.output_tokens:,}",
            changes,
            escape(outcome),
        )
    render.out.print(table)
