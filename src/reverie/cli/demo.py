"""``reverie demo``: real memory work, with a chat model if one is configured, offline if not.

Offline, the bundled fictional conversation's turns are stored as episodic memories with local
embeddings and searched by meaning; nothing pretends to be a language model. With a model, a
short quickstart conversation goes through semantic extraction by a memory store manager. Keys
are derived from the conversation (and the manager tracks the thread), so re-running adds nothing.
"""

from __future__ import annotations

import json
from importlib import resources

from langgraph.store.base import IndexConfig
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from reverie.cli import render
from reverie.cli.conversation import Message
from reverie.cli.embedding_choice import HASHING, LOCAL, configured_embeddings, index_for
from reverie.cli.episodes import store_episodes
from reverie.cli.models import HOW_TO_CONFIGURE
from reverie.cli.naming import describe_target, format_namespace, memory_text
from reverie.cli.storage import opened_store
from reverie.core.effects import run
from reverie.ledger import port_for
from reverie.ledger.search import search_memories

SAMPLE_NAMESPACE = ("demo", "sample")
QUICKSTART_NAMESPACE = ("demo", "quickstart")
SHOWN_TURNS = 6
OFFLINE_QUERIES = (
    "Any dietary restrictions?",
    "Does she have any pets?",
    "Any allergies?",
    "Is there a family event coming up?",
)
QUICKSTART_CONVERSATION = [
    {"role": "user", "content": "I prefer dark mode in all my apps"},
    {"role": "assistant", "content": "Got it, I'll keep that in mind."},
]
QUICKSTART_QUERY = "app preferences"


def sample_conversation() -> tuple[str, list[Message]]:
    """The bundled sample conversation's title and messages."""
    data = json.loads(
        resources.files("reverie.cli")
        .joinpath("data")
        .joinpath("sample_conversation.json")
        .read_text(encoding="utf-8")
    )
    return data["title"], [Message.model_validate(m) for m in data["messages"]]


def describe_embeddings(spec: str | None) -> str:
    choice = configured_embeddings(spec)
    if choice == LOCAL:
        return "all-MiniLM-L6-v2 (local)"
    if choice == HASHING:
        return "hashing (deterministic, matches words not meaning)"
    return choice


def run_demo(target: str | None, embeddings: str | None, model_spec: str | None) -> None:
    """Run the demo on the store ``target`` (None: the default store)."""
    index = index_for(embeddings)
    header = (
        f"[dim]store:[/] {escape(describe_target(target))}\n"
        f"[dim]embeddings:[/] {escape(describe_embeddings(embeddings))}"
    )
    if model_spec:
        _with_model(target, index, model_spec, header)
    else:
        _offline(target, index, header)


def _offline(target: str | None, index: IndexConfig | None, header: str) -> None:
    title, messages = sample_conversation()
    render.out.print(f"[bold]Reverie demo[/] (offline, no model)\n{header}\n")
    with opened_store(target, index=index) as store:
        with render.err.status("Embedding the sample conversation..."):
            report = store_episodes(store, SAMPLE_NAMESPACE, messages)
        where = format_namespace(SAMPLE_NAMESPACE)
        render.out.print(
            f"Stored the {len(messages)}-turn fictional conversation {escape(repr(title))} as "
            f"episodic memories in '{where}': {len(report.added)} new, "
            f"{len(report.unchanged)} already stored.\n"
        )
        keys = report.added + report.unchanged
        shown = [item for key in keys[:SHOWN_TURNS] if (item := store.get(SAMPLE_NAMESPACE, key))]
        memories = Table(
            title=f"Memories (first {len(shown)} of {len(keys)})", title_justify="left"
        )
        memories.add_column("turn", justify="right", no_wrap=True)
        memories.add_column("speaker", no_wrap=True)
        memories.add_column("memory")
        for item in shown:
            content = item.value["content"]
            memories.add_row(str(content["turn"]), content["role"], escape(memory_text(item.value)))
        render.out.print(memories)
        render.out.print()
        for query in OFFLINE_QUERIES:
            results = run(search_memories(port_for(store), SAMPLE_NAMESPACE, query=query, limit=3))
            render.out.print(render.episode_rows(results, title=f"search: {query}"))
            render.out.print()
    render.out.print(
        Panel(
            "Episodic memory works offline: each turn is stored and found by meaning.\n"
            "Semantic extraction (distilling facts such as 'Nadia is vegetarian' and keeping "
            "them up to date) needs a chat model, and none is configured.\n\n"
            + escape(HOW_TO_CONFIGURE)
            + "\n\nThen run 'reverie demo' again. Meanwhile, try:\n"
            f'  reverie search "trains or planes?" -n {where}\n'
            f"  reverie list -n {where}",
            title="No model configured",
            title_align="left",
            expand=False,
        )
    )


def _with_model(
    target: str | None, index: IndexConfig | None, model_spec: str, header: str
) -> None:
    from reverie.cli.extract import extract

    messages = [Message.model_validate(m) for m in QUICKSTART_CONVERSATION]
    render.out.print(f"[bold]Reverie demo[/] with {escape(model_spec)}\n{header}\n")
    for message in messages:
        render.out.print(f"  [dim]{message.role}:[/] {escape(message.content)}")
    render.out.print()
    with opened_store(target, index=index) as store:
        with render.err.status(f"Extracting memories with {model_spec}..."):
            done = extract(store, QUICKSTART_NAMESPACE, messages, model_spec, user="demo")
        stored, removed, report = done.stored, done.removed, done.report
        calls = f"{report.model_calls} model call{'s' if report.model_calls != 1 else ''}"
        render.out.print(f"[dim]extraction mode:[/] {escape(done.mode)} ({calls})")
        for fallback in report.fallbacks:
            render.out.print(f"[dim]  moved on from[/] {escape(fallback)}")
        if stored or removed:
            render.out.print(
                render.memory_table(
                    stored, title=f"Memories written ({len(stored)} written, {removed} removed)"
                )
            )
        elif report.nothing_stored == "no_new_messages":
            render.out.print("Nothing new to extract: this conversation was processed before.")
        else:
            render.out.print(f"Nothing stored: {escape(report.why_nothing_stored or 'unknown')}.")
            for warning in report.warnings:
                render.out.print(f"[yellow]{escape(warning)}[/]")
        results = run(
            search_memories(port_for(store), QUICKSTART_NAMESPACE, query=QUICKSTART_QUERY, limit=5)
        )
        render.out.print(
            render.memory_table(results, title=f"search: {QUICKSTART_QUERY}", scores=True)
        )
