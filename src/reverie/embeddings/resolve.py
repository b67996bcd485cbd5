"""Turning a user's embedder choice into an ``Embeddings`` object and a LangGraph index config."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig

from reverie.core.errors import EmbeddingError
from reverie.embeddings.local import MINILM_DIMS, LocalMiniLMEmbeddings

LOCAL_NAMES = frozenset(
    {"local", "minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
)


def resolve_embeddings(spec: str | Embeddings | None = None) -> Embeddings:
    """The embedder named by ``spec``.

    - ``None``, ``"local"``, ``"minilm"`` or ``"local:all-MiniLM-L6-v2"``: the bundled offline
      :class:`LocalMiniLMEmbeddings`;
    - an ``Embeddings`` instance: returned unchanged;
    - ``"provider:model"`` (e.g. ``"openai:text-embedding-3-small"``): LangChain's
      ``init_embeddings``, which needs the provider's integration package installed.

    Raises :class:`~reverie.core.errors.EmbeddingError` when the embedder cannot be created.
    """
    if spec is None:
        return LocalMiniLMEmbeddings()
    if isinstance(spec, Embeddings):
        return spec
    if not isinstance(spec, str):
        raise EmbeddingError(
            "An embedder must be None, 'local', a 'provider:model' string or a LangChain "
            f"Embeddings instance, got {type(spec).__name__}."
        )
    name = spec.strip()
    provider, _, model = name.partition(":")
    if name.lower() in LOCAL_NAMES or (
        provider.lower() == "local" and model.lower() in LOCAL_NAMES
    ):
        return LocalMiniLMEmbeddings()
    if ":" not in name:
        raise EmbeddingError(
            f"Unknown embedder {spec!r}: use 'local' for the bundled offline model or "
            "'provider:model', e.g. 'openai:text-embedding-3-small'."
        )
    return _init_provider_embeddings(name)


def _init_provider_embeddings(spec: str) -> Embeddings:
    try:
        from langchain.embeddings import init_embeddings
    except ImportError as exc:
        raise EmbeddingError(
            f"Embedder {spec!r} needs the 'langchain' package: pip install langchain"
        ) from exc
    try:
        return init_embeddings(spec)
    except ImportError as exc:
        # langchain's message names the integration package and the pip command to install it.
        raise EmbeddingError(f"Cannot create embedder {spec!r}: {exc}") from exc
    except Exception as exc:
        raise EmbeddingError(
            f"Cannot create embedder {spec!r}: {type(exc).__name__}: {exc}"
        ) from exc


def default_index(
    fields: list[str] | None = None, *, embed: Embeddings | None = None
) -> IndexConfig:
    """A LangGraph store ``index`` config using the local all-MiniLM-L6-v2 model (384 dims).

    Every call builds a new :class:`LocalMiniLMEmbeddings` unless ``embed`` passes one to share
    (the weights themselves are loaded once per process either way). ``fields`` defaults to
    ``["$"]``, the whole value.
    """
    return {
        "dims": MINILM_DIMS,
        "embed": embed if embed is not None else LocalMiniLMEmbeddings(),
        "fields": list(fields) if fields else ["$"],
    }
