"""Which embedder a command's store uses: ``--embeddings`` or ``REVERIE_EMBEDDINGS``.

``local`` (the default) is all-MiniLM-L6-v2 run on the CPU, the index every Reverie store gets
when opened without one. ``hashing`` is a deterministic word-hashing embedder with no model at
all: instant, offline, and good for tests and scripts, though it matches words rather than
meaning. Anything else is a ``provider:model`` name handed to ``reverie.embeddings``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from reverie.core.errors import ConfigurationError, EmbeddingError

if TYPE_CHECKING:  # the CLI names the embedder before (and without) loading LangGraph
    from langgraph.store.base import IndexConfig

EMBEDDINGS_ENV = "REVERIE_EMBEDDINGS"
LOCAL = "local"
HASHING = "hashing"


def configured_embeddings(explicit: str | None = None) -> str:
    """The embedder the user chose; ``local`` when nothing is set."""
    spec = explicit if explicit is not None else os.environ.get(EMBEDDINGS_ENV)
    return (spec or "").strip() or LOCAL


def index_for(spec: str | None) -> IndexConfig | None:
    """The LangGraph index config for ``spec``; None means the store's default (local MiniLM)."""
    choice = configured_embeddings(spec)
    if choice == LOCAL:
        return None
    if choice == HASHING:
        from reverie.testing.embeddings import hashing_index  # not the scripted model

        return hashing_index()
    if ":" not in choice:
        raise ConfigurationError(
            f"Unknown embeddings {choice!r}. Use 'local' (all-MiniLM-L6-v2, the default), "
            "'hashing' (deterministic, no model) or 'provider:model', e.g. "
            "'openai:text-embedding-3-small'."
        )
    from reverie.embeddings import resolve_embeddings  # the embedder code, only when needed

    embedder = resolve_embeddings(choice)
    try:
        # A provider model's width is not known in advance; one short probe tells it.
        dims = len(embedder.embed_query("dimension probe"))
    except Exception as exc:  # provider SDKs raise their own error types
        raise EmbeddingError(f"Embeddings {choice!r} failed on a test input: {exc}") from exc
    return {"dims": dims, "embed": embedder}
