"""Commands that read and change stored memories: search, list, show, forget, stats.

Each command imports the store and ledger code it uses when it runs, so ``reverie --help``
and the other commands start without it.
"""

from __future__ import annotations

import json
from collections import Counter
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
    NamespaceFilter,
    UserOption,
    app,
    namespace_scope,
    open_for,
    store_target,
)


@app.command()
@friendly_errors
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Most results.")] = 10,
) -> None:
    """Find memories by meaning, best match first (all namespaces without --namespace)."""
    from reverie.core.effects import run
    from reverie.ledger import port_for
    from reverie.ledger.search import search_memories

    where, below = namespace_scope(namespace, user, descendants)
    with open_for(ctx) as store:
        items = run(
            search_memories(port_for(store), where, query=query, limit=limit, descendants=below)
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
    """Show one memory in full, as JSON."""
    from reverie.cli.storage import find_item

    with open_for(ctx) as store:
        item = find_item(store, key, parse_namespace(namespace, user) if namespace else None)
    render.out.print_json(json.dumps(item.dict(), ensure_ascii=False))


@app.command()
@friendly_errors
def forget(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The memory's key (see 'reverie list').")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
) -> None:
    """Delete one memory."""
    from reverie.cli.storage import find_item
    from reverie.core.effects import run
    from reverie.ledger import port_for
    from reverie.ledger.writes import change_memory

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
) -> None:
    """Count memories per namespace and kind."""
    from reverie.cli.storage import iter_items

    per_namespace: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    newest = None
    where, below = namespace_scope(namespace, user, descendants)
    with open_for(ctx) as store:
        for item in iter_items(store, where, descendants=below):
            per_namespace[format_namespace(item.namespace)] += 1
            per_kind[render.kind_of(item.value)] += 1
            newest = item.updated_at if newest is None else max(newest, item.updated_at)
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
