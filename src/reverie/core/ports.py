"""The storage port: the one typed contract between Reverie and the store it writes to.

Every writer in Reverie (memory managers, the memory tools, the CLI and MCP server, imports)
changes memories through :meth:`MemoryStorePort.commit`: *embed first, then check what the
writer read is still there, then write everything, in one transaction*, locking only the
namespaces the commit touches. Readers use LangGraph's ``batch`` plus one more operation,
:class:`NamespaceSearch`, a search of exactly one namespace (descendants only when asked for).

Reverie's own stores implement the port natively (they subclass :class:`NativeStore`); any other
LangGraph ``BaseStore`` is wrapped by an adapter (``reverie.ledger.port_for``) that gives the
best guarantee such a store allows (see ``reverie.ledger.adapter``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from langgraph.store.base import BaseStore, Item, Op, PutOp, Result, SearchItem

from reverie.core.errors import InputError
from reverie.core.indexing import RankingOptions


@dataclass(frozen=True)
class Expectation:
    """What a writer read and relies on: its commit goes ahead only if the item is still so.

    ``value=None`` means the item must still be absent. ``updated_at`` is the timestamp as the
    writer read it (``None``: compare the value only; backends whose clocks are too coarse to
    tell two writes apart are still caught by the value). ``may_vanish`` lets a delete succeed
    when someone else deleted the item first.
    """

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None
    updated_at: datetime | None = None
    may_vanish: bool = False

    @classmethod
    def of(cls, item: Item | None, *, may_vanish: bool = False) -> Expectation:
        """Expect ``item`` (as read) to be unchanged; ``None`` is not allowed here."""
        if item is None:
            raise ValueError("Expectation.of needs an item; use Expectation(ns, key, None).")
        return cls(tuple(item.namespace), item.key, item.value, item.updated_at, may_vanish)

    def holds(self, current: Item | None) -> bool:
        """Whether the item as it is now (``None``: absent) still matches what was read."""
        if current is None:
            return self.value is None or self.may_vanish
        if self.value is None:
            return False
        if self.updated_at is not None and current.updated_at != self.updated_at:
            return False
        return current.value == self.value


@dataclass(frozen=True)
class RestoredItem:
    """A write that keeps an exported item's timestamps (an import); ``index`` as in ``PutOp``."""

    item: Item
    index: Literal[False] | list[str] | None = None


Write = PutOp | RestoredItem
"""One write of a commit: a ``PutOp`` (``value=None`` deletes) or a :class:`RestoredItem`."""


@dataclass(frozen=True)
class CommitResult:
    """The outcome of :meth:`MemoryStorePort.commit`.

    ``committed`` is False when an expectation no longer held; then nothing was written and
    ``conflicts`` lists the expectations that failed. ``kept_timestamps`` is False when the store
    could not keep the timestamps of :class:`RestoredItem` writes (they carry the commit's time).
    """

    committed: bool
    conflicts: tuple[Expectation, ...] = ()
    kept_timestamps: bool = True

    def __bool__(self) -> bool:
        return self.committed


class AlsoSearched(NamedTuple):
    """A further namespace (exactly it) that a :class:`NamespaceSearch` ranks with its own, under
    its own ``filter`` (the search's ``filter`` does not apply to it)."""

    namespace: tuple[str, ...]
    filter: dict[str, Any] | None = None


class NamespaceSearch(NamedTuple):
    """A search of one namespace: exactly ``namespace``, or with ``descendants=True`` also every
    namespace below it (what LangGraph's ``SearchOp`` always does). Results are ``SearchItem``s,
    best first with a query, in store order without one.

    With a query, Reverie's stores rank by hybrid fusion (see ``RankingOptions``) but report
    each item's cosine similarity to the query as its ``score``. ``min_score`` leaves out items
    scoring below it (and items without a score); ``diversity`` (0 to 1, 0: off) reorders the
    best candidates by maximal marginal relevance; ``ranking`` overrides the store's ranking
    options for this search. Other LangGraph stores honour ``min_score`` only.

    ``also`` adds namespaces whose items compete for the same page, each under its own filter.
    Reverie's embedded store ranks them all in one pool; other stores search each apart and
    merge the lists by score (see ``reverie.core.joint_search``)."""

    namespace: tuple[str, ...]
    query: str | None = None
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    descendants: bool = False
    refresh_ttl: bool | None = None
    min_score: float | None = None
    diversity: float = 0.0
    ranking: RankingOptions | None = None
    also: tuple[AlsoSearched, ...] = ()


PortOp = Op | NamespaceSearch
"""What :meth:`MemoryStorePort.batch` accepts: LangGraph's operations and :class:`NamespaceSearch`."""


@dataclass(frozen=True)
class NamespaceTally:
    """The live items of one namespace, counted per ``kind``: the value's ``"kind"`` where it is a
    string, else None, in the order the kinds first appear in store order; and the latest
    ``updated_at`` among them."""

    namespace: tuple[str, ...]
    kinds: dict[str | None, int]
    newest: datetime

    @property
    def items(self) -> int:
        return sum(self.kinds.values())


TallyRow = tuple[tuple[str, ...], str | None, int, datetime]
"""(namespace, kind, items, newest) of one namespace and kind, as a store's query groups them."""


def tallies_of(
    namespaces: Sequence[tuple[str, ...]], rows: Iterable[TallyRow]
) -> list[NamespaceTally]:
    """Rows in store order grouped into one tally per namespace, in the order of ``namespaces``
    (those without a row, i.e. without a live item, are left out)."""
    kinds: dict[tuple[str, ...], dict[str | None, int]] = {}
    newest: dict[tuple[str, ...], datetime] = {}
    for namespace, kind, count, changed in rows:
        counts = kinds.setdefault(namespace, {})
        counts[kind] = counts.get(kind, 0) + count
        newest[namespace] = max(newest.get(namespace, changed), changed)
    return [
        NamespaceTally(ns, kinds[ns], newest[ns])
        for ns in dict.fromkeys(tuple(n) for n in namespaces)
        if ns in kinds
    ]


class MemoryStorePort(Protocol):
    """What Reverie needs from a store. ``batch`` results follow the order of ``ops``."""

    def batch(self, ops: Iterable[PortOp]) -> list[Result]: ...

    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]: ...

    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        """Embed the writes' texts, then in one transaction check every expectation and apply
        every write, or write nothing if any expectation fails."""
        ...

    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult: ...

    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        """Count the live items of each of ``namespaces`` (exactly it, not those below) per
        kind, without handing back the items; namespaces holding none are left out."""
        ...

    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]: ...

    def default_index_fields(self) -> list[str] | None:
        """What a put without ``index=`` is indexed by: the embedded paths (an
        :class:`~reverie.core.indexing.IndexFields` where keyword search sees other paths).
        None when the store does not say (or indexes nothing)."""
        ...


class NativeStore(BaseStore, ABC):
    """Base class of LangGraph stores that implement :class:`MemoryStorePort` themselves.

    Subclassing it is how a store says so (nothing is discovered by attribute names): Reverie
    then commits through the store's own transactions instead of wrapping it in an adapter.
    ``batch`` must also accept :class:`NamespaceSearch` operations.
    """

    @abstractmethod
    def batch(self, ops: Iterable[PortOp]) -> list[Result]:
        """LangGraph's operations and :class:`NamespaceSearch`, results in the order of ``ops``."""

    @abstractmethod
    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]:
        """The async twin of :meth:`batch`."""

    @abstractmethod
    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        """See :meth:`MemoryStorePort.commit`."""

    def close(self) -> None:
        """Release the store's resources (files, connections, threads); async stores whose
        resources belong to an event loop release them in ``aclose``."""

    @abstractmethod
    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult:
        """See :meth:`MemoryStorePort.commit`."""

    @abstractmethod
    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        """See :meth:`MemoryStorePort.tally`."""

    @abstractmethod
    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        """See :meth:`MemoryStorePort.tally`."""

    def default_index_fields(self) -> list[str] | None:
        """See :meth:`MemoryStorePort.default_index_fields`; not abstract, so stores written
        before it keep working (None: Reverie writes as it did without it)."""
        return None


def namespaces_touched(expected: Sequence[Expectation], writes: Sequence[Write]) -> list[str]:
    """The namespaces a commit must lock, as dotted paths, sorted so lockers never deadlock."""
    paths = {".".join(e.namespace) for e in expected}
    paths.update(".".join(write_target(w)[0]) for w in writes)
    return sorted(paths)


def write_target(write: Write) -> tuple[tuple[str, ...], str]:
    """The (namespace, key) a write changes."""
    if isinstance(write, RestoredItem):
        return tuple(write.item.namespace), write.item.key
    if isinstance(write, PutOp):
        return tuple(write.namespace), write.key
    raise InputError(
        f"A commit writes PutOp or RestoredItem values, got {type(write).__name__}; "
        "read with batch() instead."
    )


def as_put(write: Write) -> PutOp:
    """The ``PutOp`` a write amounts to (a restored item without its timestamps)."""
    if isinstance(write, RestoredItem):
        item = write.item
        return PutOp(tuple(item.namespace), item.key, dict(item.value), index=write.index)
    return write


def search_result(items: Sequence[SearchItem], request: NamespaceSearch) -> list[SearchItem]:
    """Keep only the items ``request`` asks for (used by stores that search by prefix)."""
    kept = [i for i in items if request.descendants or tuple(i.namespace) == request.namespace]
    if request.min_score is not None and request.query:
        kept = [i for i in kept if i.score is not None and i.score >= request.min_score]
    return kept


def check_search_options(request: NamespaceSearch) -> None:
    """Refuse search options out of range, saying which and what is allowed."""
    min_score = request.min_score
    if min_score is not None and (
        isinstance(min_score, bool)
        or not isinstance(min_score, (int, float))
        or not -1.0 <= min_score <= 1.0
    ):
        raise InputError(
            f"min_score is a cosine similarity threshold from -1 to 1, got {min_score!r}; "
            "pass a number in that range, or None for no threshold."
        )
    diversity = request.diversity
    if (
        isinstance(diversity, bool)
        or not isinstance(diversity, (int, float))
        or not (0.0 <= diversity <= 1.0)
    ):
        raise InputError(
            f"diversity must be a number from 0 (off) to 1, got {diversity!r}; pass one in "
            "that range."
        )
    if request.ranking is not None and not isinstance(request.ranking, RankingOptions):
        raise InputError("ranking must be a reverie.RankingOptions (or None for the store's).")


__all__ = [
    "AlsoSearched",
    "CommitResult",
    "Expectation",
    "MemoryStorePort",
    "NamespaceSearch",
    "NamespaceTally",
    "NativeStore",
    "PortOp",
    "RestoredItem",
    "Write",
    "as_put",
    "check_search_options",
    "namespaces_touched",
    "search_result",
    "tallies_of",
    "write_target",
]
