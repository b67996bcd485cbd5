"""Commands that do memory work: the demo, ingesting a conversation, the worker, the MCP server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reverie.cli import render
from reverie.cli.errors import friendly_errors
from reverie.cli.models import configured_model
from reverie.cli.naming import DEFAULT_NAMESPACE, DEFAULT_USER, format_namespace, parse_namespace
from reverie.cli.typer_app import (
    DescendantsOption,
    DiversityOption,
    MinScoreOption,
    QueueUrlOption,
    UserOption,
    app,
    index_of,
    limits_of,
    open_for,
    state,
    store_target,
)


@app.command()
@friendly_errors
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

    run_demo(store_target(ctx), state(ctx).embeddings, configured_model(model))


@app.command()
@friendly_errors
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from reverie.cli.conversation import load_conversation

    messages = load_conversation(file)
    target = parse_namespace(namespace, user)
    spec = configured_model(model)
    with open_for(ctx) as store:
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
@friendly_errors
def worker(
    ctx: typer.Context,
    app_path: Annotated[
        str,
        typer.Option(
            "--app", help="Import path of the memory manager (or its factory): 'module:attribute'."
        ),
    ],
    dsn: QueueUrlOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs processed at once.")] = 1,
    queue: Annotated[str, typer.Option(help="Queue to take jobs from.")] = "reverie",
) -> None:
    """Run the background worker that processes deferred memory extraction."""
    from reverie.executor.worker import run_worker

    run_worker(app_path, dsn, store=store_target(ctx), concurrency=concurrency, queue=queue)


@app.command()
@friendly_errors
def mcp(
    ctx: typer.Context,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace the server's tools work in.")
    ] = DEFAULT_NAMESPACE,
    user: UserOption = DEFAULT_USER,
    descendants: DescendantsOption = False,
    min_score: MinScoreOption = None,
    diversity: DiversityOption = 0.0,
) -> None:
    """Serve the store over MCP (stdio) with tools remember, search, update and forget.

    --min-score and --diversity apply to every search the server's clients make.
    """
    from reverie.cli.mcp_server import serve

    serve(
        store_target(ctx),
        parse_namespace(namespace, user),
        index=index_of(ctx),
        descendants=descendants,
        limits=limits_of(ctx),
        min_score=min_score,
        diversity=diversity,
    )
