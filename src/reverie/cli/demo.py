"""``reverie demo``: real memory work, with a chat model if one is configured, offline if not.

Offline, the bundled fictional conversation's turns are stored as episodic memories with local
MiniLM embeddings and searched by meaning. With a model, LangMem's quickstart conversation goes
through semantic extraction. The demo uses its own store file and is safe to re-run.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from rich.markup import escape
from rich.panel import Panel

from reverie.cli import render
from reverie.cli.conversation import Message
from reverie.cli.episodes import store_episodes
from reverie.cli.models import HOW_TO_CONFIGURE
from reverie.cli.storage import opened_store

SAMPLE_NAMESPACE = ("demo", "sample")
QUICKSTART_NAMESPACE = ("demo", "quickstart")
OFFLINE_QUERIES = (
    "What does Nadia like to eat?",
    "Does she have any pets?",
    "What should I avoid when booking things?",
    "Is there a family event coming up?",
)
QUICKSTART_CONVERSATION = [
    {"role": "user", "content": "I prefer dark mode in all my apps"},
    {"role": "assistant", "content": "Got it, I'll keep that in mind."},
]


def default_demo_db() -> Path:
    return Path.home() / ".local" / "share" / "reverie" / "demo.db"


def sample_conversation() -> list[Message]:
    data = (
        resources.files("reverie.cli")
        .joinpath("data")
        .joinpath("sample_conversation.json")
        .read_text(encoding="utf-8")
    )
    return [Message.model_validate(m) for m in json.loads(data)["messages"]]


def _demo_index() -> dict:
    from reverie.embeddings import default_index

    return default_index(fields=["content.content"])


def run_demo(db: Path | None, model_spec: str | None) -> None:
    path = db or default_demo_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    if model_spec:
        _with_model(path, model_spec)
    else:
        _offline(path)


def _offline(path: Path) -> None:
    messages = sample_conversation()
    render.out.print(f"[bold]Reverie demo[/] (offline) - store: {escape(str(path))}\n")
    with opened_store(path, index=_demo_index()) as store:
        with render.err.status("Embedding the sample conversation with all-MiniLM-L6-v2..."):
            report = store_episodes(store, SAMPLE_NAMESPACE, messages)
        render.out.print(
            f"Stored a {len(messages)}-turn sample conversation as episodic memories in "
            f"'{'/'.join(SAMPLE_NAMESPACE)}': {len(report.added)} new, "
            f"{len(report.unchanged)} already stored.\n"
        )
        for query in OFFLINE_QUERIES:
            results = store.search(SAMPLE_NAMESPACE, query=query, limit=3)
            render.out.print(render.episode_rows(results, title=f"search: {query}"))
            render.out.print()
    render.out.print(
        Panel(
            "Episodic memory works offline: turns are stored and found by meaning.\n"
            "Semantic extraction (distilling facts such as 'Nadia is vegetarian' and keeping "
            "them up to date) needs a chat model; none is configured.\n"
            + HOW_TO_CONFIGURE
            + "\nThen run 'reverie demo' again.",
            title="No model configured",
            expand=False,
        )
    )


def _with_model(path: Path, model_spec: str) -> None:
    from reverie.cli.extract import extract_memories

    messages = [Message.model_validate(m) for m in QUICKSTART_CONVERSATION]
    render.out.print(
        f"[bold]Reverie demo[/] with {escape(model_spec)} - store: {escape(str(path))}\n"
    )
    for message in messages:
        render.out.print(f"  [dim]{message.role}:[/] {escape(message.content)}")
    render.out.print()
    with opened_store(path, index=_demo_index()) as store:
        with render.err.status(f"Extracting memories with {model_spec}..."):
            stored, removed = extract_memories(
                store, QUICKSTART_NAMESPACE, messages, model_spec, user="demo"
            )
        render.out.print(
            render.memory_table(
                stored, title=f"Memories written ({len(stored)} written, {removed} removed)"
            )
        )
        results = store.search(QUICKSTART_NAMESPACE, query="app preferences", limit=5)
        render.out.print(render.memory_table(results, title="search: app preferences", scores=True))
