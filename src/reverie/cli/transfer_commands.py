"""Commands that move a store's contents in and out: export and import (JSONL)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reverie.cli import render
from reverie.cli.errors import friendly_errors
from reverie.cli.naming import DEFAULT_USER, format_namespace
from reverie.cli.typer_app import (
    DescendantsOption,
    NamespaceFilter,
    UserOption,
    app,
    limits_of,
    namespace_scope,
    open_for,
)
from reverie.core.errors import InputError


@app.command("export")
@friendly_errors
def export_memories(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSONL file to write; '-' for stdout.")
    ] = Path("-"),
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
) -> None:
    """Write memories as JSONL: namespace, key, value and timestamps, one memory a line.

    Reverie's bookkeeping (which messages were already processed, change history) is included,
    so an export imported into an empty store gives back the same store.
    """
    from reverie.cli.export_file import exported_line
    from reverie.cli.storage import iter_items

    where, below = namespace_scope(namespace, user, descendants)
    lines = []
    nulled: list[str] = []
    with open_for(ctx) as store:
        for item in iter_items(store, where, descendants=below, internal=True):
            line, non_finite = exported_line(item)
            lines.append(line)
            place = f"{format_namespace(item.namespace)} {item.key}"
            nulled.extend(f"{place} {field}" for field in non_finite)
    text = "".join(line + "\n" for line in lines)
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
    render.err.print(f"Exported {render.count(len(lines), 'memory', 'memories')}.")
    if nulled:
        # JSON has no NaN or Infinity; say so rather than let them turn into null unnoticed.
        render.warn(
            f"{render.count(len(nulled), 'value')} held NaN or Infinity, which JSON cannot "
            f"represent, and {'was' if len(nulled) == 1 else 'were'} exported as null: "
            + "; ".join(nulled[:5])
            + (" ..." if len(nulled) > 5 else "")
        )


@app.command("import")
@friendly_errors
def import_memories(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL written by 'reverie export'; '-' for stdin.")],
) -> None:
    """Load memories from an export, keeping keys and timestamps (existing keys are replaced)."""
    from reverie.cli.export_file import read_export
    from reverie.cli.storage import restore_items

    limits = limits_of(ctx)
    if str(file) == "-":
        items = read_export(sys.stdin.buffer, "stdin", limits)
    else:
        if not file.exists():
            raise InputError(f"File not found: {file}")
        with file.open("rb") as stream:
            items = read_export(stream, str(file), limits)
    with open_for(ctx) as store:
        replaced = sum(1 for item in items if store.get(item.namespace, item.key) is not None)
        kept_times = restore_items(store, items)
    render.out.print(
        f"Imported {render.count(len(items), 'memory', 'memories')} "
        f"({len(items) - replaced} new, {replaced} replaced)."
    )
    if items and not kept_times:
        render.warn("This store cannot set timestamps; imported memories carry today's times.")
