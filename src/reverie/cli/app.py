"""The ``reverie`` command: every subcommand, plus one-line errors instead of tracebacks."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec

import typer
from langgraph.store.base import BaseStore
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from reverie.cli import render
from reverie.cli.conversation import load_conversation
from reverie.cli.embedding_choice import EMBEDDINGS_ENV, index_for
from reverie.cli.models import configured_model
from reverie.cli.storage import (
    DEFAULT_NAMESPACE,
    DEFAULT_USER,
    ExportRecord,
    describe_target,
    find_item,
    format_namespace,
    is_internal,
    iter_items,
    opened_store,
    parse_namespace,
    restore_items,
)
from reverie.core.errors import ConfigurationError, InputError, ReverieError

P = ParamSpec("P")
DEBUG_ENV = "REVERIE_DEBUG"


def _friendly_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn an expected failure into one red line on stderr and exit code 1, not a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except ReverieError as exc:
            _fail(str(exc))
        except FileNotFoundError as exc:
            _fail(f"File not found: {exc.filename or exc}")
        except IsADirectoryError as exc:
            _fail(f"{exc.filename} is a directory, not a file.")
        except PermissionError as exc:
            _fail(f"Permission denied: {exc.filename or exc}")
        except json.JSONDecodeError as exc:
            _fail(f"Invalid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}")
        except sqlite3.Error as exc:
            _fail(f"Database error: {exc}")
        except OSError as exc:
            _fail(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            _fail(
                f"Unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see the traceback)."
            )

    return run


def _fail(message: str) -> NoReturn:
    render.error(message)
    raise typer.Exit(code=1)


app = typer.Typer(
    name="reverie",
    help="Long-term memory for LLM agents: fill, search and serve a Reverie memory store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass(frozen=True)
class _State:
    store: str | None
    embeddings: str | None


def _state(ctx: typer.Context) -> _State:
    return ctx.find_object(_State) or _State(store=None, embeddings=None)


def _store_target(ctx: typer.Context) -> str | None:
    return _state(ctx).store


def _index(ctx: typer.Context) -> dict[str, Any] | None:
    return index_for(_state(ctx).embeddings)


def _open(ctx: typer.Context) -> contextlib.AbstractContextManager[BaseStore]:
    """The store the command works on, with the embedder chosen by --embeddings."""
    return opened_store(_store_target(ctx), index=_index(ctx))


@app.callback()
def _root(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="REVERIE_STORE",
            help="Store to use: a file path (embedded store) or a postgresql:// URL. "
            "Default: ./.reverie/memories.db.",
            show_envvar=True,
        ),
    ] = None,
    embeddings: Annotated[
        str | None,
        typer.Option(
            "--embeddings",
            envvar=EMBEDDINGS_ENV,
            help="Embedder for storing and searching: 'local' (all-MiniLM-L6-v2 on the CPU, "
            "default), 'hashing' (deterministic, no model; for tests and scripts) or "
            "'provider:model'.",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    ctx.obj = _State(store=store, embeddings=embeddings)


NamespaceFilter = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="Only this namespace (and those below it), e.g. 'memories/alice'."
    ),
]
UserOption = Annotated[
    str,
    typer.Option(
        "--user", "-u", envvar="REVERIE_USER", help="Fills {langgraph_user_id} in --namespace."
    ),
]


def _prefix(namespace: str | None, user: str = DEFAULT_USER) -> tuple[str, ...]:
    return parse_namespace(namespace, user) if namespace else ()


@app.command()
@_friendly_errors
def demo(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", envvar="REVERIE_MODEL", help="'provider:model' for semantic extraction."
        ),
    ] = None,
) -> None:
    """Show Reverie at work on the store: offline episodic memory, or extraction with a model.

    Without a model, a bundled sample conversation is stored turn by turn in namespace
    'demo/sample' and searched by meaning. With REVERIE_MODEL set, a short conversation goes
    through semantic extraction into 'demo/quickstart'. Running it again adds no duplicates.
    """
    from reverie.cli.demo import run_demo

    run_demo(_store_target(ctx), _state(ctx).embeddings, configured_model(model))


@app.command()
@_friendly_errors
def ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Conversation as JSON or JSONL messages.")],
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Where the memories go ('/'-separated).")
    ] = DEFAULT_NAMESPACE,
    user: UserOption = DEFAULT_USER,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", envvar="REVERIE_MODEL", help="'provider:model' for semantic extraction."
        ),
    ] = None,
) -> None:
    """Remember a conversation (OpenAI format: {"role", "content"} messages).

    With a model configured, a memory manager extracts and consolidates facts. Without one, each
    turn is stored as an episodic memory (kind "Episode"); ingesting the same file again adds
    nothing.
    """
    messages = load_conversation(file)
    target = parse_namespace(namespace, user)
    spec = configured_model(model)
    with _open(ctx) as store:
        if spec:
            from reverie.cli.extract import extract_memories

            with render.err.status(f"Extracting memories with {spec}..."):
                stored, removed = extract_memories(store, target, messages, spec, user)
            written = render.count(len(stored), "memory", "memories")
            render.out.print(
                f"Extracted from {len(messages)} messages into "
                f"[bold]{escape(format_namespace(target))}[/]: {written} written, {removed} removed."
            )
            if stored:
                render.out.print(render.memory_table(stored))
            return
        from reverie.cli.episodes import store_episodes

        with Progress(
            TextColumn("Storing turns"), BarColumn(), MofNCompleteColumn(), console=render.err
        ) as progress:
            task = progress.add_task("turns", total=len(messages))
            report = store_episodes(
                store, target, messages, on_progress=lambda n: progress.advance(task, n)
            )
    added = render.count(len(report.added), "new episode")
    render.out.print(
        f"Stored {len(messages)} messages from {escape(str(file))} in "
        f"[bold]{escape(format_namespace(target))}[/]: {added}, "
        f"{len(report.unchanged)} already stored, {report.skipped} skipped (system or empty)."
    )
    render.out.print(
        "No model configured, so turns were stored as episodic memories. "
        "Set REVERIE_MODEL for semantic extraction."
    )


@app.command()
@_friendly_errors
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Most results.")] = 10,
) -> None:
    """Find memories by meaning, best match first."""
    with _open(ctx) as store:
        prefix = _prefix(namespace, user)
        items = [
            item
            for item in store.search(prefix, query=query, limit=limit)
            if is_internal(prefix) or not is_internal(item.namespace)
        ]
    if not items:
        render.out.print("No memories found.")
        return
    render.out.print(render.memory_table(items, scores=True))


@app.command("list")
@_friendly_errors
def list_memories(
    ctx: typer.Context,
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Most memories shown.")] = 50,
) -> None:
    """List stored memories, namespace by namespace."""
    with _open(ctx) as store:
        items = []
        for item in iter_items(store, _prefix(namespace, user)):
            items.append(item)
            if len(items) >= limit:
                break
    if not items:
        render.out.print("No memories stored.")
        return
    render.out.print(render.memory_table(items))


@app.command()
@_friendly_errors
def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The memory's key (see 'reverie list').")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
) -> None:
    """Show one memory in full, as JSON."""
    with _open(ctx) as store:
        item = find_item(store, key, parse_namespace(namespace, user) if namespace else None)
    render.out.print_json(json.dumps(item.dict(), ensure_ascii=False))


@app.command()
@_friendly_errors
def forget(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The memory's key (see 'reverie list').")],
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
) -> None:
    """Delete one memory."""
    with _open(ctx) as store:
        item = find_item(store, key, parse_namespace(namespace, user) if namespace else None)
        store.delete(item.namespace, item.key)
    render.out.print(f"Forgot {key} from {escape(format_namespace(item.namespace))}.")


@app.command("export")
@_friendly_errors
def export_memories(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSONL file to write; '-' for stdout.")
    ] = Path("-"),
    namespace: NamespaceFilter = None,
    user: UserOption = DEFAULT_USER,
) -> None:
    """Write memories as JSONL: namespace, key, value and timestamps, one memory a line.

    Reverie's bookkeeping (which messages were already processed, change history) is included,
    so an export imported into an empty store gives back the same store.
    """
    with _open(ctx) as store:
        lines = [
            ExportRecord.of(item).model_dump_json()
            for item in iter_items(store, _prefix(namespace, user), internal=True)
        ]
    text = "".join(line + "\n" for line in lines)
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
    render.err.print(f"Exported {render.count(len(lines), 'memory', 'memories')}.")


@app.command("import")
@_friendly_errors
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
    with _open(ctx) as store:
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


@app.command()
@_friendly_errors
def stats(
    ctx: typer.Context, namespace: NamespaceFilter = None, user: UserOption = DEFAULT_USER
) -> None:
    """Count memories per namespace and kind."""
    per_namespace: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    newest = None
    target = _store_target(ctx)
    with _open(ctx) as store:
        for item in iter_items(store, _prefix(namespace, user)):
            per_namespace[format_namespace(item.namespace)] += 1
            per_kind[render.kind_of(item.value)] += 1
            newest = item.updated_at if newest is None else max(newest, item.updated_at)
    total = sum(per_namespace.values())
    render.out.print(
        f"[bold]{render.count(total, 'memory', 'memories')}[/] in "
        f"{render.count(len(per_namespace), 'namespace')} "
        f"({escape(describe_target(target))})."
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


@app.command()
@_friendly_errors
def worker(
    ctx: typer.Context,
    app_path: Annotated[
        str,
        typer.Option(
            "--app", help="Import path of the memory manager (or its factory): 'module:attribute'."
        ),
    ],
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn",
            envvar="REVERIE_QUEUE_URL",
            help="postgresql:// URL of the job queue (default: the --store URL).",
            show_envvar=True,
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs processed at once.")] = 1,
    queue: Annotated[str, typer.Option(help="Queue to take jobs from.")] = "reverie",
) -> None:
    """Run the background worker that processes deferred memory extraction."""
    try:
        from reverie.executor.worker import run_worker
    except ImportError as exc:
        raise ConfigurationError(
            "The background worker is not available in this installation "
            f"(reverie.executor.worker could not be imported: {exc})."
        ) from exc
    import inspect

    offered: dict[str, Any] = {
        "factory_path": app_path,
        "dsn": dsn,
        "store": _store_target(ctx),
        "concurrency": concurrency,
        "queue": queue,
    }
    accepted = inspect.signature(run_worker).parameters
    run_worker(**{name: value for name, value in offered.items() if name in accepted})


@app.command()
@_friendly_errors
def mcp(
    ctx: typer.Context,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace the server's tools work in.")
    ] = DEFAULT_NAMESPACE,
    user: UserOption = DEFAULT_USER,
) -> None:
    """Serve the store over MCP (stdio) with tools remember, search, update and forget."""
    from reverie.cli.mcp_server import serve

    serve(_store_target(ctx), parse_namespace(namespace, user), index=_index(ctx))


def main() -> None:
    """Entry point of the ``reverie`` script (and of ``python -m reverie.cli.app``)."""
    app(prog_name="reverie")


if __name__ == "__main__":
    main()
