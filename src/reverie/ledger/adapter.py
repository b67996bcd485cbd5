"""The storage port for any LangGraph ``BaseStore`` that does not implement it natively.

What it guarantees, and what it cannot:

- **Atomic against other Reverie writers in this process.** A commit holds a lock per namespace
  it touches (only those: writers for other users never wait), reads what it expects, and
  writes everything in one ``batch``, which is one transaction on stores that have them.
- **Not against other processes**, nor against code that writes to the store without going
  through Reverie: a plain ``BaseStore`` has no compare-and-set. Use Reverie's embedded or
  PostgreSQL store (native commits) where several processes write.
- **Embedding happens inside the store's ``batch``**, so inside the namespace's lock; other
  namespaces are not held up.
- LangGraph's ``InMemoryStore`` fails a batch that embeds one text twice; two memories with the
  same text are then written in two batches (nothing of an in-memory store survives a crash, so
  only the in-process lock matters there).
- Timestamps of restored items cannot be set through the public API: they carry the commit's
  time and the result says so (``kept_timestamps=False``).
- **The same limits and filter language as Reverie's stores** (``reverie.core.requests``).
  Filters with ordering operators are evaluated here rather than by the store, so they mean the
  same as everywhere else (LangGraph's InMemoryStore fails on a missing or non-numeric field).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from typing import cast

from langgraph.store.base import BaseStore, GetOp, Item, Op, PutOp, Result, SearchItem, SearchOp
from langgraph.store.memory import InMemoryStore

from reverie.core.effects import Effect, Pipeline, arun, run
from reverie.core.filters import has_ordering, matches
from reverie.core.indexing import default_fields
from reverie.core.joint_search import split_joint
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.core.ports import (
    CommitResult,
    Expectation,
    MemoryStorePort,
    NamespaceSearch,
    NamespaceTally,
    NativeStore,
    PortOp,
    RestoredItem,
    TallyRow,
    Write,
    as_put,
    namespaces_touched,
    search_result,
    tallies_of,
)
from reverie.core.requests import check_writes, checked_ops
from reverie.ledger.locks import NamespaceLocks

# Items read per page when counting a plain store's namespace.
_TALLY_PAGE = 500


class _StoreBatch(Effect[list[Result]]):
    """A batch on the wrapped store itself (LangGraph operations only)."""

    def __init__(self, store: BaseStore, ops: list[Op]) -> None:
        self.store = store
        self.ops = ops

    def perform(self) -> list[Result]:
        return self.store.batch(self.ops)

    async def aperform(self) -> list[Result]:
        return await self.store.abatch(self.ops)


class LockingStoreAdapter:
    """:class:`~reverie.core.ports.MemoryStorePort` over ``store`` with in-process namespace locks.

    Get one with :func:`port_for`, which shares one adapter (and so one set of locks) among
    every manager and tool of this process that writes to the same store object.
    """

    def __init__(self, store: BaseStore, limits: Limits | None = None) -> None:
        self.store = store
        self.limits = limits or DEFAULT_LIMITS
        self.locks = NamespaceLocks()

    def __repr__(self) -> str:
        return f"LockingStoreAdapter({self.store!r})"

    # ----------------------------------------------------------------- reads

    def batch(self, ops: Iterable[PortOp]) -> list[Result]:
        return run(self._batch(list(ops)))

    async def abatch(self, ops: Iterable[PortOp]) -> list[Result]:
        return await arun(self._batch(list(ops)))

    def _batch(self, ops: list[PortOp]) -> Pipeline[list[Result]]:
        # A search with ``also`` runs as one search per namespace, merged by score.
        ops, join = split_joint(checked_ops(ops, self.limits))
        return join((yield from self._batch_checked(ops)))

    def _batch_checked(self, ops: list[PortOp]) -> Pipeline[list[Result]]:
        ops = [_here_if_ordered(op) for op in ops]
        plain: list[Op] = [
            _first_page(op, self.store) if isinstance(op, NamespaceSearch) else op for op in ops
        ]
        results = yield from _StoreBatch(self.store, plain)
        for i, op in enumerate(ops):
            if isinstance(op, NamespaceSearch):
                results[i] = yield from self._exact(op, plain[i], results[i])  # type: ignore[arg-type]
        return results

    def _exact(
        self, request: NamespaceSearch, asked: SearchOp, found: list[SearchItem]
    ) -> Pipeline[list[SearchItem]]:
        """Page through prefix results until ``request``'s page of the exact namespace (and, for
        an ordering filter, of the items it matches) is full."""
        wanted = request.offset + request.limit
        here = has_ordering(request.filter)
        while True:
            kept = search_result(found, request)
            if here:
                kept = [item for item in kept if matches(item.value, request.filter)]
            if (
                len(kept) >= wanted
                or len(found) < asked.limit
                or (request.descendants and not here)
            ):
                return kept[request.offset : wanted]
            asked = asked._replace(limit=asked.limit * 4)
            (page,) = yield from _StoreBatch(self.store, [asked])
            found = cast(list[SearchItem], page)

    def tally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        """See :meth:`MemoryStorePort.tally`: a plain store can only count what it hands back,
        so every item is read, page by page."""
        return run(self._tally(namespaces))

    async def atally(self, namespaces: Sequence[tuple[str, ...]]) -> list[NamespaceTally]:
        return await arun(self._tally(namespaces))

    def _tally(self, namespaces: Sequence[tuple[str, ...]]) -> Pipeline[list[NamespaceTally]]:
        rows: list[TallyRow] = []
        for namespace in dict.fromkeys(tuple(n) for n in namespaces):
            request = NamespaceSearch(namespace, limit=_TALLY_PAGE, refresh_ttl=False)
            while True:
                (page,) = yield from self._batch([request])
                found = page if isinstance(page, list) else []
                for item in found:
                    if not isinstance(item, Item):
                        continue
                    kind = item.value.get("kind")
                    rows.append(
                        (namespace, kind if isinstance(kind, str) else None, 1, item.updated_at)
                    )
                if len(found) < _TALLY_PAGE:
                    break
                request = request._replace(offset=request.offset + _TALLY_PAGE)
        return tallies_of(namespaces, rows)

    def default_index_fields(self) -> list[str] | None:
        """See :meth:`MemoryStorePort.default_index_fields`: LangGraph's ``InMemoryStore``
        exposes its index config; other stores' defaults are not known here."""
        if isinstance(self.store, InMemoryStore):
            return default_fields(self.store.index_config)
        return None

    # ----------------------------------------------------------------- commits

    def commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> CommitResult:
        with self.locks.hold(namespaces_touched(expected, writes)):
            return run(self._commit(expected, writes))

    async def acommit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> CommitResult:
        async with self.locks.ahold(namespaces_touched(expected, writes)):
            return await arun(self._commit(expected, writes))

    def _commit(
        self, expected: Sequence[Expectation], writes: Sequence[Write]
    ) -> Pipeline[CommitResult]:
        puts = [as_put(w) for w in writes]  # checked before anything is read or written
        check_writes(writes, self.limits)
        if expected:
            current = yield from _StoreBatch(
                self.store, [GetOp(e.namespace, e.key, refresh_ttl=False) for e in expected]
            )
            conflicts = tuple(
                e
                for e, now in zip(expected, current, strict=True)
                if not e.holds(now if isinstance(now, Item) else None)
            )
            if conflicts:
                return CommitResult(False, conflicts)
        for batch in _embeddable_batches(puts):
            yield from _StoreBatch(self.store, list(batch))
        restored = any(isinstance(w, RestoredItem) for w in writes)
        return CommitResult(True, kept_timestamps=not restored)


def _here_if_ordered(op: PortOp) -> PortOp:
    """A prefix search with an ordering filter, as a search the adapter filters itself."""
    if isinstance(op, SearchOp) and has_ordering(op.filter):
        return NamespaceSearch(
            op.namespace_prefix,
            query=op.query,
            filter=op.filter,
            limit=op.limit,
            offset=op.offset,
            descendants=True,
            refresh_ttl=op.refresh_ttl,
        )
    return op


def _first_page(request: NamespaceSearch, store: BaseStore) -> SearchOp:
    wanted = request.offset + request.limit
    return SearchOp(
        request.namespace,
        # Ordering conditions are applied by the adapter (see the module docstring).
        filter=None if has_ordering(request.filter) else request.filter,
        # Deeper namespaces' items come back too and are dropped: ask for more than the page.
        limit=wanted
        if request.descendants and not has_ordering(request.filter)
        else max(2 * wanted, 20),
        offset=0,
        query=request.query,
        refresh_ttl=(
            (store.ttl_config or {}).get("refresh_on_read", True)
            if request.refresh_ttl is None
            else request.refresh_ttl
        ),
    )


def _embeddable_batches(puts: list[PutOp]) -> list[list[PutOp]]:
    """One batch, unless two puts would embed the same value (see the module docstring)."""
    batches: list[list[PutOp]] = [[]]
    seen: set[str] = set()
    for op in puts:
        if op.value is not None and op.index is not False:
            fingerprint = json.dumps(op.value, sort_keys=True, default=str)
            if fingerprint in seen:
                batches.append([])
                seen = set()
            seen.add(fingerprint)
        batches[-1].append(op)
    return [b for b in batches if b]


# One adapter per live store object: every manager and tool writing to the same store must share
# its locks, whoever created them, and the adapter vanishes with the store. (Locks kept on the
# store object itself would break users who copy or pickle their store.)
_ADAPTERS: weakref.WeakKeyDictionary[BaseStore, LockingStoreAdapter] = weakref.WeakKeyDictionary()


def port_for(store: BaseStore) -> MemoryStorePort:
    """The storage port of ``store``: itself if it implements the port natively, else its
    process-wide :class:`LockingStoreAdapter`."""
    if isinstance(store, NativeStore):
        return store
    adapter = _ADAPTERS.get(store)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(store, LockingStoreAdapter(store))
    return adapter


def unwrap(port: MemoryStorePort) -> BaseStore:
    """The LangGraph store behind a port."""
    if isinstance(port, LockingStoreAdapter):
        return port.store
    if isinstance(port, BaseStore):
        return port
    raise TypeError(f"{type(port).__name__} is neither a LangGraph store nor an adapter of one.")


__all__ = ["LockingStoreAdapter", "port_for", "unwrap"]
