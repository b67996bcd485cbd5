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


class LimitError(InputError):
    """An input is larger than one of Reverie's limits (``reverie.core.limits.Limits``): refused
    before anything was written. ``limit_name`` names the ``Limits`` field, ``limit`` its value
    and ``size`` what the input measured."""

    def __init__(self, message: str, *, limit_name: str, limit: int, size: int) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit
        self.size = size


class NamespaceLimitError(NamespaceError, LimitError):
    """A namespace label (e.g. a user id) is too long, or a namespace too deep."""


class UnstorableValueError(InputError):
    """A value holds something no store backend can keep (NaN or Infinity, a NUL character, a
    lone surrogate in a key or label, a type JSON has not); ``field`` is where, as a path such as
    ``content.score``."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class FilterError(InputError):
    """A search filter is outside Reverie's filter language (see ``reverie.core.filters``)."""


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


class JobsStillRunningError(ReverieError):
    """Durable reflection jobs that write to a namespace were still running when it was to be
    erased, so nothing was erased (a job finishing afterwards would write its memories again);
    ``running`` is how many."""

    def __init__(self, message: str, *, running: int) -> None:
        super().__init__(message)
        self.running = running


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
