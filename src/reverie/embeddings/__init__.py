"""Embedders: the bundled offline all-MiniLM-L6-v2 model and resolution of user choices."""

from reverie.embeddings.local import MINILM_DIMS, LocalMiniLMEmbeddings
from reverie.embeddings.resolve import default_index, resolve_embeddings

__all__ = ["MINILM_DIMS", "LocalMiniLMEmbeddings", "default_index", "resolve_embeddings"]
