"""Typed errors. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class ReverieError(Exception):
    """Base class for every error Reverie raises on purpose."""


class ConfigurationError(ReverieError, ValueError):
    """The caller's configuration (config dict, arguments, environment) cannot be used."""


class NamespaceError(ConfigurationError):
    """A namespace or namespace template is malformed or cannot be filled."""


class InputError(ReverieError, ValueError):
    """The conversation or payload handed to Reverie cannot be processed."""


class ModelOutputError(ReverieError):
    """The model's reply could not be turned into valid memory operations, even after a retry."""


class UnusableReplyError(ModelOutputError):
    """The model answered in a form no operation could be read from (prose instead of tool calls
    or JSON); raised instead of a warning when a manager is created with
    ``on_unusable_reply="raise"``."""


class ProviderError(ReverieError, RuntimeError):
    """The model provider failed or refused a request (HTTP error, unsupported option, context
    too long, rate limit, truncated output). The provider's exception is the ``__cause__``;
    ``kind`` names the failure, ``mode`` the extraction mode of the request."""

    def __init__(self, message: str, *, kind: str = "unknown", mode: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.mode = mode


class StoreError(ReverieError):
    """The memory store could not be opened or used."""


class ConflictError(StoreError):
    """Memories kept changing underneath a manager run more often than it retried."""


class StoreLockedError(StoreError):
    """Another process holds the store's write lock for longer than the configured timeout."""


class NotAReverieStoreError(StoreError):
    """The file or database exists but was not written by Reverie."""


class SchemaVersionError(StoreError):
    """The store was written by a newer Reverie release than this one."""


class EmbeddingError(ReverieError):
    """The embedding model could not be loaded or run."""
