"""Rich output shared by the commands: consoles, memory tables, one-line errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reverie.cli.naming import format_namespace, memory_text

if TYPE_CHECKING:
    from langgraph.store.base import Item, SearchItem

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

# Tables show a memory's first characters and its size: laying out a long text takes rich more
# than linear time, and a listing is for finding memories (``reverie show`` prints one whole).
SHOWN_CHARS = 500


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters for a table, saying how long it is when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} … [{len(text):,} characters]"


def error(message: str) -> None:
    # One line, whatever the underlying library put in its message.
    err.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", soft_wrap=True)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "memory", "memories")`` -> "1 memory"; other numbers take the plural."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def kind_of(value: dict[str, Any]) -> str:
    return kind_label(value.get("kind"))


def kind_label(kind: object) -> str:
    """A value's ``"kind"`` as tables show it: ``-`` where it has none (or not a string)."""
    return kind if isinstance(kind, str) else "-"


def memory_table(items: Sequence[Item], *, title: str | None = None, scores: bool = False) -> Table:
    """One row per memory: its text, then its key, kind and namespace on a dim line."""
    table = Table(title=title, title_justify="left", show_lines=True)
    if scores:
        table.add_column("score", justify="right", no_wrap=True)
    table.add_column("memory", overflow="fold")
    for item in items:
        details = f"{item.key} · {kind_of(item.value)} · {format_namespace(item.namespace)}"
        row = [f"{escape(shown(memory_text(item.value)))}\n[dim]{escape(shown(details))}[/]"]
        if scores:
            score = _score(item)
            row.insert(0, "-" if score is None else f"{score:.3f}")
        table.add_row(*row)
    return table


def episode_rows(items: Iterable[SearchItem], *, title: str) -> Table:
    """Search results over conversation turns: score, who spoke, and what was said."""
    table = Table(title=title, title_justify="left")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("turn", justify="right", no_wrap=True)
    table.add_column("speaker", no_wrap=True)
    table.add_column("text")
    for item in items:
        content = item.value.get("content", {})
        turn = content.get("turn") if isinstance(content, dict) else None
        role = (
            (content.get("speaker") or content.get("role", "-"))
            if isinstance(content, dict)
            else "-"
        )
        table.add_row(
            "-" if item.score is None else f"{item.score:.3f}",
            "-" if turn is None else str(turn),
            str(role),
            escape(shown(memory_text(item.value))),
        )
    return table


def _score(item: Item) -> float | None:
    from langgraph.store.base import SearchItem  # loaded by then: the item came from a store

    return item.score if isinstance(item, SearchItem) else None
