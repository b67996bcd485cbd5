"""The memories one consolidation round works on, and the commit that round amounts to.

The model sees stored memories under short aliases ("1", "2", ...) and answers with operations
on them; they are applied here to a working set, which then becomes one commit: the writes, their
audit records, and an expectation for every stored memory the round changes, so an update or a
delete only lands on the version of the memory the model was shown.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import Item, PutOp, SearchItem
from pydantic import BaseModel

from reverie.core.ports import Expectation, Write
from reverie.core.types import stored_value
from reverie.extraction.schemas import Delete, Insert, Operation, Update
from reverie.ledger.history import Action, history_put
from reverie.ledger.timeline import Moment, TimeRecord, timeline_writes

_KEY_NAMESPACE = uuid.UUID("6f0b7c52-31a4-4d59-9d0e-5be0c2f0a1d4")


@dataclass
class Entry:
    """A memory in the working set: shown from the store, or created in this round."""

    key: str | None
    content: BaseModel
    item: SearchItem | Item | None = None
    deleted: bool = False
    changed: bool = False


WorkingSet = dict[str, Entry]  # alias -> entry


def apply_operations(entries: WorkingSet, operations: list[Operation]) -> None:
    for op in operations:
        if isinstance(op, Insert):
            if any(not e.deleted and e.content == op.content for e in entries.values()):
                continue  # the same memory again (stored, or inserted twice in one reply)
            entries[str(len(entries) + 1)] = Entry(None, op.content, changed=True)
        elif isinstance(op, Update):
            entry = entries[op.alias]
            entry.content, entry.changed, entry.deleted = op.content, True, False
        elif isinstance(op, Delete):
            entries[op.alias].deleted = True


def expectations_for(entries: WorkingSet) -> list[Expectation]:
    """Every stored memory the round changes must still be as the model was shown it."""
    return [
        Expectation.of(e.item, may_vanish=e.deleted)
        for e in entries.values()
        if e.item is not None and (e.changed or e.deleted)
    ]


@dataclass
class PlannedWrites:
    writes: list[Write] = field(default_factory=list)
    # {"namespace", "key", "value"} of every memory written (what invoke returns).
    written: list[dict[str, Any]] = field(default_factory=list)
    # How many memories each change makes: insert, update, supersede (an update that keeps the
    # closed version), delete. The run's counts.
    actions: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Supersession:
    """Keep closed versions (see ``ledger.timeline``): when the changes happen, the time
    records of the stored memories they change, and the store's default index fields (what a
    closed version is indexed by unless its record says otherwise)."""

    moment: Moment
    records: dict[str, TimeRecord | None]
    store_fields: list[str] | None


def plan_writes(
    namespace: tuple[str, ...],
    entries: WorkingSet,
    thread_id: str | None,
    idempotency: str | None,
    *,
    history: bool,
    supersession: Supersession | None = None,
    run_id: str | None = None,
    ttl: float | None = None,
) -> PlannedWrites:
    """The writes (and audit records) that make the store match the working set; with a
    ``supersession``, also each change's timeline (closed versions instead of overwrites).
    Memories and their records get ``ttl`` (minutes; the store's default_ttl, see
    ``reverie.ledger.retention``)."""
    plan = PlannedWrites()
    inserted = 0
    for entry in entries.values():
        before = entry.item.value if entry.item is not None else None
        action: Action
        if entry.key is None:
            if entry.deleted:
                continue
            inserted += 1
            # A retried run (same idempotency key) makes the same keys, so it overwrites.
            entry.key = (
                str(uuid.uuid5(_KEY_NAMESPACE, f"{idempotency}:{inserted}"))
                if idempotency
                else str(uuid.uuid4())
            )
            action = "insert"
        elif entry.deleted:
            action = "delete"
        elif entry.changed:
            action = "update"
        else:
            continue
        after = None if entry.deleted else stored_value(entry.content)
        if after is not None and after == before:
            continue
        plan.writes.append(
            PutOp(namespace, entry.key, after, ttl=ttl if after is not None else None)
        )
        # An update that keeps the closed version supersedes it rather than overwriting it.
        plan.actions[
            "supersede" if supersession is not None and action == "update" else action
        ] += 1
        if supersession is not None:
            plan.writes += timeline_writes(
                namespace,
                entry.key,
                entry.item if isinstance(entry.item, Item) else None,
                supersession.records.get(entry.key),
                after,
                supersession.moment,
                ttl,
                store_fields=supersession.store_fields,
            )
        if after is not None:
            plan.written.append({"namespace": namespace, "key": entry.key, "value": after})
        if history:
            record_key = (
                str(uuid.uuid5(_KEY_NAMESPACE, f"{idempotency}:{entry.key}:history"))
                if idempotency
                else None
            )
            plan.writes.append(
                history_put(
                    namespace, entry.key, action, before, after, thread_id, record_key, run_id, ttl
                )
            )
    return plan
