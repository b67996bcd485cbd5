"""The ``reverie`` Typer application, its global options and what commands share."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from reverie.cli.embedding_choice import EMBEDDINGS_ENV, index_for
from reverie.cli.naming import DEFAULT_USER, parse_namespace
from reverie.core.limits import Limits

if TYPE_CHECKING:
    from langgraph.store.base import IndexConfig

    from reverie.core.ports import NativeStore

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
class State:
    store: str | None
    embeddings: str | None


def state(ctx: typer.Context) -> State:
    return ctx.find_object(State) or State(store=None, embeddings=None)


def store_target(ctx: typer.Context) -> str | None:
    return state(ctx).store


def index_of(ctx: typer.Context) -> IndexConfig | None:
    return index_for(state(ctx).embeddings)


def limits_of(ctx: typer.Context) -> Limits:
    """The limits the command works with: the defaults, changed by ``REVERIE_MAX_...``."""
    return Limits.from_env()


def open_for(ctx: typer.Context) -> contextlib.AbstractContextManager[NativeStore]:
    """The store the command works on, with the embedder chosen by --embeddings."""
    from reverie.cli.storage import opened_store  # the store code, only for commands that use it

    return opened_store(store_target(ctx), index=index_of(ctx), limits=limits_of(ctx))


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
    ctx.obj = State(store=store, embeddings=embeddings)


NamespaceFilter = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Only this namespace, e.g. 'memories/alice' (with --descendants: and those below it).",
    ),
]
DescendantsOption = Annotated[
    bool,
    typer.Option(
        "--descendants",
        "-d",
        help="Also the namespaces below --namespace (e.g. 'memories/alice/work').",
    ),
]
UserOption = Annotated[
    str,
    typer.Option(
        "--user", "-u", envvar="REVERIE_USER", help="Fills {langgraph_user_id} in --namespace."
    ),
]

QueueUrlOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        envvar="REVERIE_QUEUE_URL",
        help="postgresql:// URL of the job queue (default: the --store URL).",
        show_envvar=True,
    ),
]


def _check_min_score(value: float | None) -> float | None:
    # NaN fails the range test too, so it is refused with the same message.
    if value is not None and not -1.0 <= value <= 1.0:
        raise typer.BadParameter(
            f"{value} is not a cosine similarity; give a number from -1 to 1 (e.g. 0.3), or "
            "leave the option out to keep every match."
        )
    return value


def _check_diversity(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise typer.BadParameter(
            f"{value} is out of range; give a number from 0 (off) to 1 (e.g. 0.5)."
        )
    return value


MinScoreOption = Annotated[
    float | None,
    typer.Option(
        "--min-score",
        callback=_check_min_score,
        help="Leave out matches whose cosine similarity to the query is below this (-1 to 1).",
    ),
]
DiversityOption = Annotated[
    float,
    typer.Option(
        "--diversity",
        callback=_check_diversity,
        help="Spread near-duplicate matches apart: 0 (off) to 1. Not applied to searches as of a "
        "past date.",
    ),
]


def namespace_scope(
    namespace: str | None, user: str = DEFAULT_USER, descendants: bool = False
) -> tuple[tuple[str, ...], bool]:
    """(namespace, descendants) a command reads: one namespace, or everything when none given."""
    if not namespace:
        return (), True
    return parse_namespace(namespace, user), descendants
