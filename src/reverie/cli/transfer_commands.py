"""Commands that move a store's contents in and out: export and import (JSONL)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from reverie.cli import render
from reverie.cli.errors import friendly_errors
from reverie.cli.storage import DEFAULT_USER, ExportRecord, iter_items, restore_items
from reverie.cli.typer_app import (
    DescendantsOption,
    NamespaceFilter,
    UserOption,
    app,
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
    where, below = namespace_scope(namespace, user, descendants)
    with open_for(ctx) as store:
        lines = [
            ExportRecord.of(item).model_dump_json()
            for item in iter_items(store, where, descendants=below, internal=True)
        ]
    text = "".join(line + "\n" for line in lines)
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
    render.err.print(f"Exported {render.count(len(lines), 'memory', 'memories')}.")


@app.command("import")
@friendly_errors
def import_memories(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL written by 'reverie export'; '-' for stdin.")],
) -> None:
    """Load memories from an export, keeping keys and timestamps (existing keys are replaced)."""
    text = sys.stdin.read() if str(file) == "-" else _read_text(file)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(ExportRecord.model_validate_json(line))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "line"
            raise InputError(
                f"{file} line {number} is not an exported memory ({where}: {problem['msg']}). "
                "Nothing was imported."
            ) from exc
    items = [record.to_item() for record in records]
    with open_for(ctx) as store:
        replaced = sum(1 for item in items if store.get(item.namespace, item.key) is not None)
        kept_times = restore_items(store, items)
    render.out.print(
        f"Imported {render.count(len(items), 'memory', 'memories')} "
        f"({len(items) - replaced} new, {replaced} replaced)."
    )
    if items and not kept_times:
        render.warn("This store cannot set timestamps; imported memories carry today's times.")


def _read_text(file: Path) -> str:
    if not file.exists():
        raise InputError(f"File not found: {file}")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{file} is not UTF-8 text; expected JSONL.") from exc
