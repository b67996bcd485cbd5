"""Erasing a namespace for real: the right-to-erasure request every deployment gets.

Everything Reverie keeps about a namespace goes in one commit: its memories, and every
bookkeeping namespace built from it under ``__reverie__`` (closed versions, time records, the
audit trail, thread progress, usage records, and whatever a later release adds there).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from langgraph.store.base import BaseStore, ListNamespacesOp, MatchCondition, PutOp

from reverie.core.effects import Commit, Pipeline, StoreBatch, arun, run
from reverie.core.errors import ConflictError, InputError
from reverie.core.namespace import RESERVED_ROOT
from reverie.core.ports import Expectation, MemoryStorePort, Write
from reverie.ledger.adapter import port_for
from reverie.ledger.search import every_item

PAGE = 1000


@dataclass(frozen=True)
class Erased:
    """How many items went, per part: ``"memories"`` and each bookkeeping kind."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _owned_by(namespace: tuple[str, ...], candidate: tuple[str, ...], descendants: bool) -> bool:
    return candidate == namespace or (descendants and candidate[: len(namespace)] == namespace)


def erase_namespace(
    port: MemoryStorePort,
    namespace: tuple[str, ...],
    *,
    descendants: bool = False,
    retries: int = 2,
) -> Pipeline[Erased]:
    """Delete ``namespace`` (and with ``descendants`` every namespace below it) and all of
    Reverie's bookkeeping about it, atomically; the counts of what was removed."""
    namespace = tuple(namespace)
    if not namespace or namespace[0] == RESERVED_ROOT:
        raise InputError(
            f"erase_namespace needs a memory namespace such as ('memories', 'alice'), got "
            f"{namespace!r}."
        )
    for _ in range(retries + 1):
        conditions = [MatchCondition("prefix", (RESERVED_ROOT,))]
        if not descendants:  # exactly (ROOT, kind, *namespace): no need to list everyone's
            conditions.append(MatchCondition("suffix", namespace))
        (found,) = yield from StoreBatch(
            port, [ListNamespacesOp(match_conditions=tuple(conditions), limit=1_000_000)]
        )
        kinds = [
            tuple(ns)
            for ns in (found if isinstance(found, list) else [])
            if isinstance(ns, tuple) and len(ns) > 2 and _owned_by(namespace, ns[2:], descendants)
        ]
        counts: Counter[str] = Counter()
        expected: list[Expectation] = []
        writes: list[Write] = []
        for where, part in [(namespace, "memories"), *((ns, ns[1]) for ns in kinds)]:
            items = yield from every_item(
                port, where, descendants=descendants and where == namespace, page=PAGE
            )
            counts[part] += len(items)
            for item in items:
                expected.append(Expectation.of(item, may_vanish=True))
                writes.append(PutOp(tuple(item.namespace), item.key, None))
        result = yield from Commit(port, expected, writes)
        if result.committed:
            return Erased({part: n for part, n in counts.items() if n or part == "memories"})
    raise ConflictError(
        f"{namespace} kept changing while it was being erased; stop its writers and try again."
    )


def forget_user(
    store: BaseStore, namespace: tuple[str, ...], *, descendants: bool = False
) -> Erased:
    """Erase everything Reverie keeps about ``namespace`` in ``store`` (a user's memories, their
    past versions, audit trail, thread progress and usage), in one step; the counts removed.

    ``store.search`` finds nothing of it afterwards, and neither does any table of Reverie's
    stores (LangGraph's ``InMemoryStore`` keeps listing a namespace whose items are all gone, with
    nothing in it). With ``descendants=True`` the namespaces below it go too.
    """
    return run(erase_namespace(port_for(store), namespace, descendants=descendants))


async def aforget_user(
    store: BaseStore, namespace: tuple[str, ...], *, descendants: bool = False
) -> Erased:
    return await arun(erase_namespace(port_for(store), namespace, descendants=descendants))
