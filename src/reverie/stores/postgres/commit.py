"""A checked commit (``MemoryStorePort.commit``) as one plan.

1. Validate and serialise every write, and embed their texts: before any connection,
   transaction or lock is taken, so a slow embedder delays nobody else.
2. In one transaction, take the advisory locks of the namespaces the commit touches (sorted
   keys, one statement: see ``namespaces.LOCK_NAMESPACES``), read the expected items exactly as
   ``get`` returns them and check each expectation.
3. Write everything, or (an expectation failed) nothing.

The locks are transaction-scoped: PostgreSQL releases them at commit or rollback, also when the
process holding them dies, and a dead process's transaction is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from reverie.core.ports import CommitResult, Expectation, Write, namespaces_touched
from reverie.core.requests import check_writes, never_written
from reverie.stores.postgres.namespaces import checked, lock_namespaces
from reverie.stores.postgres.rows import get_items, item_key, to_item
from reverie.stores.postgres.settings import StoreSettings
from reverie.stores.postgres.steps import Embed, Plan, Transaction
from reverie.stores.postgres.writes import changes_something, prepare, write_rows


def run_commit(
    expected: Sequence[Expectation], writes: Sequence[Write], settings: StoreSettings
) -> Plan[CommitResult]:
    for expectation in expected:
        checked(tuple(expectation.namespace))
    # What no write could have made is absent, and deleting it a no-op: both are left out, as
    # PostgreSQL would refuse their text (a NUL, a lone surrogate).
    writes = [w for w in writes if changes_something(w)]
    prepared = prepare(writes, settings.index)
    check_writes(writes, settings.limits)
    read = [e for e in expected if not never_written(e.namespace, e.key)]
    vectors = yield from Embed(tuple(prepared.texts))

    yield from Transaction()
    yield from lock_namespaces(namespaces_touched(read, writes))
    if expected:
        keys = [item_key(e.namespace, e.key) for e in expected]
        found = yield from get_items([item_key(e.namespace, e.key) for e in read])
        conflicts = tuple(
            e
            for e, key in zip(expected, keys, strict=True)
            if not e.holds(to_item(found[key]) if key in found else None)
        )
        if conflicts:
            return CommitResult(False, conflicts)
    yield from write_rows(prepared, vectors, settings.schema, settings.index)
    return CommitResult(True)
