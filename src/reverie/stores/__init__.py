"""Opening a memory store from a path or URL.

``open_store()`` gives the zero-set-up default: an :class:`EmbeddedStore` at
``$REVERIE_STORE`` or ``./.reverie/memories.db``, with the offline default embeddings.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from reverie.core.errors import ConfigurationError
from reverie.core.limits import Limits

if TYPE_CHECKING:
    from langgraph.store.base import IndexConfig

    from reverie.stores.embedded import EmbeddedStore
    from reverie.stores.postgres import ReveriePostgresStore

DEFAULT_PATH = os.path.join(".reverie", "memories.db")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_target() -> str:
    """Where ``open_store()`` puts memories when given no target."""
    return os.environ.get("REVERIE_STORE") or DEFAULT_PATH


def _default_index() -> IndexConfig:
    from reverie.embeddings import default_index  # loads the embedder's code only when needed

    return default_index()


def open_store(
    target: str | os.PathLike[str] | None = None,
    *,
    index: IndexConfig | None = None,
    limits: Limits | None = None,
) -> EmbeddedStore | ReveriePostgresStore:
    """Open (creating if needed) the store at ``target``.

    ``None`` uses ``$REVERIE_STORE`` or ``./.reverie/memories.db``; a file path opens an
    :class:`EmbeddedStore`; a ``postgresql://`` URL opens the PostgreSQL store. ``index=None``
    means Reverie's default offline embeddings; ``limits`` the store-level limits
    (``reverie.core.limits``, the same defaults on both backends). The result has ``.close()``
    and is a context manager.
    """
    where = os.fspath(target) if target is not None else default_target()
    if not where:
        raise ConfigurationError("open_store() needs a file path or a postgresql:// URL.")
    resolved = index if index is not None else _default_index()
    if where.startswith(_POSTGRES_SCHEMES):
        try:
            from reverie.stores.postgres import open_postgres_store
        except ImportError as exc:
            if not (exc.name or "").startswith(("psycopg", "procrastinate")):
                raise
            raise ConfigurationError(
                "PostgreSQL support is not installed; install reverie with the 'postgres' "
                "extra (pip install 'reverie[postgres]')."
            ) from exc
        return open_postgres_store(where, index=resolved, limits=limits)
    if "://" in where:
        raise ConfigurationError(
            f"Unsupported store URL {where!r}; use a file path or a postgresql:// URL."
        )
    from reverie.stores.embedded import EmbeddedStore

    return EmbeddedStore(where, index=resolved, limits=limits)


def __getattr__(name: str) -> Any:
    # Imported on first use, so that naming the default store costs nothing.
    if name == "EmbeddedStore":
        from reverie.stores.embedded import EmbeddedStore

        return EmbeddedStore
    raise AttributeError(f"module 'reverie.stores' has no attribute {name!r}")


__all__ = ["DEFAULT_PATH", "EmbeddedStore", "default_target", "open_store"]
