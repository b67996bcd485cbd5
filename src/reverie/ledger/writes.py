"""Changing one memory on purpose (an application's put or delete, an agent's tool call, the
CLI, the MCP server), checked against concurrent writers and recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from langgraph.store.base import NOT_PROVIDED, GetOp, Item, NotProvided, PutOp

from reverie.core.effects import Commit, Pipeline, StoreBatch
from reverie.core.errors import ConflictError
from reverie.core.ports import Expectation, MemoryStorePort, Write
from reverie.ledger.history import action_between, history_put
from reverie.ledger.retention import default_ttl
from reverie.ledger.timeline import Moment, TimeRecord, time_namespace, timeline_writes

# Given the memory as it is now (None: absent), the value it should have (None: deleted).
Decide = Callable[[Item | None], dict[str, Any] | None]


@dataclass(frozen=True)
class Change:
    """What :func:`change_memory` did: the memory before, its value after, whether it wrote."""

    before: Item | None
    after: dict[str, Any] | None
    written: bool


def change_memory(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    key: str,
    decide: Decide,
    *,
    thread_id: str | None = None,
    history: bool = True,
    retries: int = 2,
    index: Literal[False] | list[str] | None = None,
    ttl: float | None | NotProvided = NOT_PROVIDED,
    moment: Moment | None = None,
) -> Pipeline[Change]:
    """Read memory ``key``, ask ``decide`` for its new value and commit it (with its audit
    record) only if nobody changed the memory meanwhile; re-read and decide again otherwise.

    ``decide`` may raise to refuse (e.g. an update of a memory that does not exist); nothing is
    written then. Writing a value equal to the stored one writes nothing, unless a ``ttl`` is
    given: then it is written again, without an audit record, to restart its expiry. ``index``
    and ``ttl`` are those of LangGraph's ``put``: no ``ttl`` means the store's default, ``None``
    never expires. The memory's audit record and timeline get its ``ttl``; a delete's get the
    store's default (``reverie.ledger.retention``). With a ``moment``, the change keeps the
    memory's timeline (``ledger.timeline``): the version it replaces is closed, not lost.
    """
    store_ttl = default_ttl(port)
    memory_ttl = store_ttl if isinstance(ttl, NotProvided) else ttl
    for _ in range(retries + 1):
        reads = [GetOp(namespace, key, refresh_ttl=False)]
        if moment is not None:
            reads.append(GetOp(time_namespace(namespace), key, refresh_ttl=False))
        found, *timed = yield from StoreBatch(port, reads)
        before = found if isinstance(found, Item) else None
        after = decide(before)
        was = before.value if before is not None else None
        if was == after and (after is None or memory_ttl is None):
            return Change(before, after, False)
        # What is kept about a deleted memory follows the store's policy: the memory is gone.
        records_ttl = memory_ttl if after is not None else store_ttl
        writes: list[Write] = [
            PutOp(namespace, key, after, index=index, ttl=memory_ttl if after is not None else None)
        ]
        timed_item = timed[0] if timed and isinstance(timed[0], Item) else None
        record = TimeRecord.from_value(timed_item.value if timed_item else None)
        if moment is not None and was != after:
            writes += timeline_writes(
                namespace,
                key,
                before,
                record,
                after,
                moment,
                records_ttl,
                store_fields=port.default_index_fields(),
                index=index,
            )
        elif timed_item is not None:  # restarting the memory's expiry restarts its record's
            # The memory is indexed anew by this put's ``index``: its record says so.
            kept = timed_item.value if record is None else replace(record, index=index).to_value()
            writes.append(PutOp(time_namespace(namespace), key, kept, index=False, ttl=memory_ttl))
        if history and was != after:
            action = action_between(was, after)
            writes.append(
                history_put(namespace, key, action, was, after, thread_id, ttl=records_ttl)
            )
        expected = (
            Expectation(namespace, key, None)
            if before is None
            else Expectation.of(before, may_vanish=after is None)
        )
        result = yield from Commit(port, [expected], writes)
        if result.committed:
            return Change(before, after, True)
    raise ConflictError(
        f"Memory {key!r} in {namespace} kept changing while it was being written "
        f"({retries + 1} attempts); try again."
    )
