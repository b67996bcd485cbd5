"""Commands that read and change stored memories: search, list, show, forget, stats.

Each command imports the store and ledger code it uses when it runs, so ``reverie --help``
and the other commands start without it.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reverie.cli import render
from reverie.cli.errors import friendly_errors
from reverie.cli.naming import (
    DEFAULT_USER,
    describe_target,
    format_namespace,
    is_bookkeeping,
    parse_namespace,
)
from reverie.cli.typer_app import (
    DescendantsOption,
    DiversityOption,
    MinScoreOption,
    NamespaceFilter,
    QueueUrlOption,
    UserOption,
    app,
    namespace_scope,
    open_for,
    store_target,
)
from reverie.core.dates import as_datetime
from reverie.core.errors import InputError


def parse_date(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    moment = as_datetime(text)
    if moment is None:
        raise InputError(f"{option} {text!r} is not a date; write it like 2024-03-01.")
    return moment


@app.command()
@friendly_errors
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Most results.")] = 10,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="A past date (e.g. 2024-03-01): what was true then, including since-replaced "
            "versions.",
        ),
    ] = None,
    min_score: MinScoreOption = None,
    diversity: DiversityOption = 0.0,
) -> None:
    """Find memories by meaning, best match first (all namespaces without --namespace).

    --min-score leaves out weak matches; --diversity spreads near-duplicates apart (not with
    --as-of, where only --min-score applies).
    """
    from reverie.core.effects import run
    from reverie.ledger import port_for
    from reverie.ledger.search import SearchOptions
    from reverie.ledger.time_search import TimeQuery, search_in_time

    where, below = namespace_scope(namespace, user, descendants)
    when = TimeQuery(as_of=parse_date(as_of, "--as-of"))
    options = SearchOptions(min_score=min_score, diversity=diversity)
    with open_for(ctx) as store:
        items = run(
            search_in_time(
                port_for(store),
                where,
                when,
                query=query,
                limit=limit,
                descendants=below,
                options=options,
            )
        )
    items = [i for i in items if is_bookkeeping(where) or not is_bookkeeping(i.namespace)]
    if not items:
        render.out.print("No memories found.")
        return
    render.out.print(render.memory_table(items, scores=True))


@app.command("list")
@friendly_errors
def list_memories(
    ctx: typer.Context,
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Most memories shown.")] = 50,
) -> None:
    """List stored memories, namespace by namespace."""
    from reverie.cli.storage import iter_items

    where, below = namespace_scope(namespace, user, descendants)
    with open_for(ctx) as store:
        items = []
        for item in iter_items(store, where, descendants=below):
            items.append(item)
            if len(items) >= limit:
                break
    if not items:
        render.out.print("No memories stored.")
        return
    render.out.print(render.memory_table(items))


@app.command()
@friendly_errors
def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The memory's key (see 'reverie list').")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
) -> None:
    """Show one memory in full, as JSON, with its timeline: every version and when it was true."""
    from reverie.cli.storage import find_item
    from reverie.core.effects import run
    from reverie.ledger import port_for
    from reverie.ledger.time_search import memory_timeline

    with open_for(ctx) as store:
        item = find_item(store, key, parse_namespace(namespace, user) if namespace else None)
        versions = run(memory_timeline(port_for(store), tuple(item.namespace), item.key))
    shown = {**item.dict(), "timeline": [v.to_json() for v in versions]}
    render.out.print_json(json.dumps(shown, ensure_ascii=False, default=str))


@app.command()
@friendly_errors
def forget(
    ctx: typer.Context,
    key: Annotated[
        str | None,
        typer.Argument(
            help="The memory's key (see 'reverie list'); leave out to erase --namespace."
        ),
    ] = None,
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Erase a whole namespace without asking.")
    ] = False,
    app_path: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="Import path of the memory manager whose durable jobs write to --namespace "
            "('module:attribute', as for 'reverie worker'): its waiting jobs there are "
            "cancelled before the erasure.",
        ),
    ] = None,
    dsn: QueueUrlOption = None,
    queue: Annotated[str, typer.Option(help="Queue of the --app jobs.")] = "reverie",
) -> None:
    """Delete one memory; or, with --namespace and no key, erase everything kept about that
    namespace (memories, past versions, audit trail, thread progress) in one step.

    With --app, the manager's durable jobs that would write to the namespace afterwards are
    cancelled first; while some are still running nothing is erased.
    """
    from reverie.cli.storage import find_item
    from reverie.core.effects import run
    from reverie.ledger import port_for
    from reverie.ledger.erase import erase_namespace
    from reverie.ledger.writes import change_memory

    if key is not None and app_path:
        raise InputError("--app cancels the jobs of a whole namespace: use it without a key.")
    if key is None:
        if not namespace:
            raise InputError(
                "Give the key of a memory to forget, or --namespace (without a key) to erase a "
                "whole namespace."
            )
        where = parse_namespace(namespace, user)
        shown = escape(format_namespace(where))
        if not yes and not typer.confirm(
            f"Erase everything kept about {format_namespace(where)}"
            f"{' and the namespaces below it' if descendants else ''}?"
        ):
            raise typer.Abort()
        if app_path:
            from reverie.cli.queued_jobs import cancel_jobs_writing_to

            cancelled = cancel_jobs_writing_to(
                app_path,
                where,
                descendants=descendants,
                dsn=dsn,
                store=store_target(ctx),
                queue=queue,
            )
            render.out.print(
                f"Cancelled {render.count(cancelled, 'waiting job')} of {escape(app_path)} "
                f"that would write to {shown}."
            )
        with open_for(ctx) as store:
            erased = run(erase_namespace(port_for(store), where, descendants=descendants))
        parts = ", ".join(f"{n} {part}" for part, n in sorted(erased.counts.items()) if n)
        render.out.print(f"Erased {shown}: {erased.total} items ({parts or 'nothing stored'}).")
        return
    with open_for(ctx) as store:
        item = find_item(store, key, parse_namespace(namespace, user) if namespace else None)
        # Through the port like every write, but without an audit record: forgetting is the
        # user's own act on the store, and an export taken afterwards should not grow.
        port = port_for(store)
        run(change_memory(port, tuple(item.namespace), item.key, lambda _: None, history=False))
    render.out.print(f"Forgot {key} from {escape(format_namespace(item.namespace))}.")


@app.command()
@friendly_errors
def stats(
    ctx: typer.Context,
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Usage of memory runs from this day on: '7d', '24h', '2w' or a date."
        ),
    ] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(
            "--price",
            help="MODEL=INPUT,OUTPUT dollars per million tokens, to show the cost (repeatable).",
        ),
    ] = None,
    job: Annotated[
        int | None, typer.Option("--job", help="Show the memory runs of one durable job.")
    ] = None,
) -> None:
    """Count memories per namespace and kind, and what memory runs did and cost."""
    from reverie.cli import usage_view
    from reverie.cli.storage import namespaces_in
    from reverie.ledger import port_for

    since_day = usage_view.parse_since(since) if since else None
    prices = [usage_view.parse_price(p) for p in price or []]
    per_namespace: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    newest = None
    where, below = namespace_scope(namespace, user, descendants)
    with open_for(ctx) as store:
        port = port_for(store)
        # Counted by the store: no memory is read just to be counted.
        for tally in port.tally(namespaces_in(store, where, descendants=below)):
            per_namespace[format_namespace(tally.namespace)] += tally.items
            for kind, count in tally.kinds.items():
                per_kind[render.kind_label(kind)] += count
            newest = tally.newest if newest is None else max(newest, tally.newest)
        usage = usage_view.read(port, where, below, since_day, job)
    total = sum(per_namespace.values())
    render.out.print(
        f"[bold]{render.count(total, 'memory', 'memories')}[/] in "
        f"{render.count(len(per_namespace), 'namespace')} "
        f"({escape(describe_target(store_target(ctx)))})."
        + (f" Last change: {newest:%Y-%m-%d %H:%M:%S %Z}." if newest else "")
    )
    if total:
        table = Table("namespace", "memories")
        for name, count in sorted(per_namespace.items()):
            table.add_row(escape(name), str(count))
        kinds = Table("kind", "memories")
        for kind, count in per_kind.most_common():
            kinds.add_row(escape(kind), str(count))
        render.out.print(table, kinds)
    usage_view.show(usage, since_day, prices, job)
