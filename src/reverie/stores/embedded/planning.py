"""Checking a batch or a commit and working out what it writes and which texts it embeds.

Everything here runs before the store is touched, so a malformed operation fails with nothing
read or written. Several puts to one key keep the last (as in ``InMemoryStore``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    Op,
    PutOp,
    SearchOp,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from reverie.core.errors import InputError, NamespaceError
from reverie.core.indexing import EpisodeFields, IndexFields
from reverie.core.limits import Limits
from reverie.core.ports import (
    Expectation,
    NamespaceSearch,
    PortOp,
    RestoredItem,
    Write,
    as_put,
    write_target,
)
from reverie.core.requests import check_writes, checked_ops, reads_nothing
from reverie.core.text import quoted
from reverie.core.values import storable_json
from reverie.stores.embedded.rows import FindsNothing, Plan, PutPlan

Fields = list[tuple[str, Any]]  # (path as written in the config, its tokenized form)


def index_fields(paths: Sequence[str] | None) -> Fields:
    """The index config's ``fields`` ready for ``get_text_at_path`` (``$``: the whole value)."""
    return [(p, tokenize_path(p) if p != "$" else p) for p in (paths or ["$"])]


class Planner:
    """Turns operations into a :class:`Plan`. ``fields`` (embedded) is None when the store has
    no index (nothing is embedded or keyword-indexed then); ``keyword_fields`` default to it;
    ``limits`` are the store-level limits every backend applies (``reverie.core.requests``)."""

    def __init__(
        self,
        fields: Fields | None,
        limits: Limits,
        keyword_fields: Fields | None = None,
        episodes: EpisodeFields | None = None,
    ) -> None:
        self.fields = fields
        self.limits = limits
        self.keyword_fields = fields if keyword_fields is None else keyword_fields
        self.episodes = episodes or EpisodeFields()

    def plan(self, ops: Iterable[PortOp], *, embed_queries: bool) -> Plan:
        """Plan a ``batch``; ``embed_queries`` says whether searches rank by vectors."""
        op_list = list(ops)
        for op in op_list:
            if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp, NamespaceSearch)):
                raise InputError(
                    f"Unknown store operation {type(op).__name__}; use GetOp, PutOp, SearchOp, "
                    "ListNamespacesOp or NamespaceSearch."
                )
            _check_labels(op)
        planned = [_finds_nothing(op) or op for op in checked_ops(op_list, self.limits)]
        puts: dict[tuple[tuple[str, ...], str], PutPlan] = {}
        queries: dict[str, None] = {}
        for step in planned:
            if isinstance(step, PutOp):
                puts[(step.namespace, step.key)] = self._plan_put(step)
            elif isinstance(step, (SearchOp, NamespaceSearch)) and step.query and embed_queries:
                queries.setdefault(step.query, None)
        return Plan(planned, puts, _unique_texts(puts.values()), list(queries))

    def plan_commit(self, expected: Sequence[Expectation], writes: Sequence[Write]) -> Plan:
        """Plan a commit's writes (after checking every write and expectation)."""
        for write in writes:
            write_target(write)  # refuses anything but PutOp / RestoredItem
        for expectation in expected:
            if not isinstance(expectation, Expectation):
                raise InputError(
                    f"A commit expects Expectation values, got {type(expectation).__name__}."
                )
            _check_labels(GetOp(tuple(expectation.namespace), expectation.key))
        for write in writes:
            _check_labels(as_put(write))
        check_writes(writes, self.limits)
        puts: dict[tuple[tuple[str, ...], str], PutPlan] = {}
        for write in writes:
            op = as_put(write)
            if reads_nothing(op):  # deletes what no write could have made: a no-op, as in PG
                continue
            plan = self._plan_put(op)
            if isinstance(write, RestoredItem):
                plan.restored = (
                    write.item.created_at.timestamp(),
                    write.item.updated_at.timestamp(),
                )
            puts[(tuple(op.namespace), op.key)] = plan
        return Plan([], puts, _unique_texts(puts.values()), [])

    def _plan_put(self, op: PutOp) -> PutPlan:
        if op.value is None:
            return PutPlan(op, None)
        if not op.namespace:
            raise InputError("A namespace needs at least one label, e.g. ('memories', 'user-1').")
        value_json = storable_json(op.value, f"The value for key {quoted(op.key)}")
        plan = PutPlan(op, value_json)
        if self.fields is None or op.index is False:
            return plan
        if op.index is None:
            embedded, keywords = self.fields, self.keyword_fields or []
        else:
            embedded = index_fields(op.index) if op.index else []
            chosen = op.index.keywords if isinstance(op.index, IndexFields) else op.index
            keywords = index_fields(chosen) if chosen else []
        plan.texts = texts_at(op.value, embedded)
        plan.keyword_texts = [text for _, text in texts_at(op.value, keywords)]
        plan.context = self.episodes.of(op.value)
        return plan


def texts_at(value: Mapping[str, Any], fields: Fields) -> list[tuple[str, str]]:
    """``(label, text)`` for every text at ``fields`` in ``value``, labelled as LangGraph does."""
    found: list[tuple[str, str]] = []
    for label, tokens in fields:
        texts = get_text_at_path(value, tokens)
        if len(texts) == 1:
            found.append((label, texts[0]))
        else:
            found.extend((f"{label}.{i}", t) for i, t in enumerate(texts))
    return found


def _finds_nothing(op: PortOp) -> FindsNothing | None:
    """The result of a read (or delete) of what no write could have made, else None."""
    if not reads_nothing(op):
        return None
    return FindsNothing(None if isinstance(op, (GetOp, PutOp)) else [])


def _check_labels(op: PortOp) -> None:
    """Refuse labels that are empty or hold a '.': stored as dotted paths, ('a.b',) would
    otherwise address ('a', 'b')."""
    if isinstance(op, NamespaceSearch):
        # Also the namespaces searched with it: ('a.b',) would read ('a', 'b')'s items.
        checked: list[Op] = [SearchOp(ns) for ns in (op.namespace, *(a.namespace for a in op.also))]
    else:
        checked = [op]
    try:
        for each in checked:
            validate_op_namespace(each)
    except InvalidNamespaceError as exc:
        raise NamespaceError(
            f"{exc} Use non-empty string labels without '.', e.g. ('memories', 'user-1')."
        ) from exc


def _unique_texts(puts: Iterable[PutPlan]) -> list[str]:
    """Every text to embed, once (two memories with the same text share one embedding)."""
    unique: dict[str, None] = {}
    for put in puts:
        for _, text in put.texts:
            unique.setdefault(text, None)
    return list(unique)
