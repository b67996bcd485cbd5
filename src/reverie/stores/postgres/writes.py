"""Writing items: puts, deletes, restored items (with their own timestamps) and their vectors.

A batch of writes is first *prepared* (deduplicated, texts to embed collected), then embedded
outside any transaction, then written by :func:`write_rows` inside the caller's transaction,
after the caller took the namespaces' locks. Several writes to one key keep the last, in the
place of the first (as InMemoryStore does).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import PutOp

from reverie.core.errors import InputError
from reverie.core.ports import RestoredItem, Write, as_put, write_target
from reverie.core.requests import reads_nothing
from reverie.core.text import quoted
from reverie.core.values import storable_json
from reverie.retrieval.terms import terms
from reverie.stores.postgres.indexing import IndexSettings
from reverie.stores.postgres.namespaces import as_text, checked
from reverie.stores.postgres.rows import params_of
from reverie.stores.postgres.schema import SchemaInfo
from reverie.stores.postgres.steps import Plan, Sql

DELETE_ITEMS = (
    "DELETE FROM store USING unnest(%s::text[], %s::text[]) AS gone(prefix, key) "
    "WHERE store.prefix = gone.prefix AND store.key = gone.key"
)

# One statement for all puts of a batch, in batch order (so `reverie_seq`, the listing order,
# follows it). An overwrite keeps the item's created_at and its place in listings, except over
# an expired row, which counts as absent: then the item is new.
_UPSERT = """
INSERT INTO store AS s (prefix, key, value, created_at, updated_at, expires_at, ttl_minutes)
SELECT w.prefix, w.key, w.value::jsonb,
       COALESCE(w.created_at, statement_timestamp()), COALESCE(w.updated_at, statement_timestamp()),
       statement_timestamp() + w.ttl * interval '1 minute', {ttl}
FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[],
            %s::float8[]) AS w(prefix, key, value, created_at, updated_at, ttl)
ON CONFLICT (prefix, key) DO UPDATE SET
    value = EXCLUDED.value,
    created_at = CASE WHEN {keep_created} AND (s.expires_at IS NULL
                      OR s.expires_at > statement_timestamp())
                      THEN s.created_at ELSE EXCLUDED.created_at END,
    updated_at = EXCLUDED.updated_at,
    expires_at = EXCLUDED.expires_at,
    ttl_minutes = EXCLUDED.ttl_minutes,
    reverie_seq = CASE WHEN s.expires_at IS NULL OR s.expires_at > statement_timestamp()
                       THEN s.reverie_seq ELSE EXCLUDED.reverie_seq END
"""


def upsert_sql(*, restored: bool, fractional_ttl: bool) -> str:
    """The upsert for puts, or for restored items (whose own created_at always wins).

    Tables created by LangGraph keep ``ttl_minutes`` as an integer: there a fractional TTL is
    stored rounded up, so a refresh never shortens it.
    """
    return _UPSERT.format(
        ttl="w.ttl" if fractional_ttl else "ceil(w.ttl)",
        keep_created="FALSE" if restored else "TRUE",
    )


DELETE_VECTORS = (
    "DELETE FROM store_vectors USING unnest(%s::text[], %s::text[]) AS w(prefix, key) "
    "WHERE store_vectors.prefix = w.prefix AND store_vectors.key = w.key"
)
INSERT_VECTORS = (
    "INSERT INTO store_vectors (prefix, key, field_name, embedding) "
    "SELECT v.prefix, v.key, v.field_name, v.embedding::{vector_type} "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
    "AS v(prefix, key, field_name, embedding)"
)


@dataclass(frozen=True)
class RowWrite:
    """One item's write: ``value_json=None`` deletes it."""

    prefix: str
    key: str
    value_json: str | None
    ttl: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    """Set for restored items, which keep their own timestamps."""
    texts: tuple[tuple[str, str], ...] = ()
    """``(field_name, text)`` to embed and store as the item's vectors."""
    keyword_text: str | None = None
    """What keyword search sees (None: the item is not keyword-indexed)."""

    @property
    def restored(self) -> bool:
        return self.created_at is not None


@dataclass
class PreparedWrites:
    """Writes deduplicated by key, with the distinct texts they need embedded."""

    rows: list[RowWrite]
    texts: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        """The namespaces written, as dotted paths."""
        return sorted({row.prefix for row in self.rows})


def changes_something(write: Write) -> bool:
    """False for a delete of what no write could have made: a no-op, best left out, since
    PostgreSQL would refuse its text (a NUL) and fail the writes beside it."""
    namespace, _ = write_target(write)
    if isinstance(write, PutOp) and write.value is None:
        checked(namespace)
        return not reads_nothing(write)
    return True


def prepare(writes: Sequence[Write], index: IndexSettings | None) -> PreparedWrites:
    """Validate, serialise and deduplicate ``writes``, raising before anything is read or
    written."""
    latest: dict[tuple[str, str], RowWrite] = {}
    for write in writes:
        write_target(write)  # raises InputError for anything but PutOp / RestoredItem
        op = as_put(write)
        created = updated = None
        if isinstance(write, RestoredItem):
            created, updated = _aware(write.item.created_at), _aware(write.item.updated_at)
        if not op.namespace and op.value is not None:
            # Stored as the prefix '', it would read back as ('',): refused, as by the
            # embedded store.
            raise InputError("A namespace needs at least one label, e.g. ('memories', 'user-1').")
        row = RowWrite(
            prefix=as_text(checked(tuple(op.namespace))),
            key=str(op.key),
            value_json=None if op.value is None else _json(op.value, op.key),
            ttl=None if op.value is None or op.ttl is None else float(op.ttl),
            created_at=created,
            updated_at=updated,
            texts=tuple(index.texts(op)) if index is not None else (),
            keyword_text=index.keyword_text(op) if index is not None else None,
        )
        latest[(row.prefix, row.key)] = row
    rows = list(latest.values())
    texts = list(dict.fromkeys(text for row in rows for _, text in row.texts))
    return PreparedWrites(rows, texts)


def write_rows(
    prepared: PreparedWrites,
    vectors: Sequence[Sequence[float]],
    schema: SchemaInfo,
    index: IndexSettings | None,
) -> Plan[None]:
    """Apply ``prepared`` in the current transaction (``vectors``: one per ``prepared.texts``).

    Where the database has a ``store_vectors`` table an overwrite replaces the item's vectors,
    also when written by a store without an index config.
    """
    deleted = [(r.prefix, r.key) for r in prepared.rows if r.value_json is None]
    if deleted:
        yield from Sql(DELETE_ITEMS, params_of(deleted))
    kept = [r for r in prepared.rows if r.value_json is not None]
    for restored in (False, True):
        batch = [r for r in kept if r.restored == restored]
        if batch:
            upsert = upsert_sql(restored=restored, fractional_ttl=schema.fractional_ttl)
            yield from Sql(upsert, _upsert_params(batch))
    if schema.has_vectors and kept:
        yield from Sql(DELETE_VECTORS, params_of([(r.prefix, r.key) for r in kept]))
    if schema.has_keywords and kept:
        yield from write_keywords(kept)
    if schema.has_keyword_counts and prepared.rows:
        # Under these namespaces' locks, so no other writer folds them meanwhile; rows a TTL
        # sweep adds concurrently are not seen here and stay, to be summed with the folded one.
        yield from Sql(COMPACT_COUNTS, [sorted({r.prefix for r in prepared.rows})])
    by_text = dict(zip(prepared.texts, vectors, strict=True))
    embedded = [(r, name, by_text[text]) for r in kept for name, text in r.texts]
    if embedded:
        yield from Sql(
            INSERT_VECTORS.format(vector_type=index.vector_type if index else "vector"),
            [
                [r.prefix for r, _, _ in embedded],
                [r.key for r, _, _ in embedded],
                [name for _, name, _ in embedded],
                # pgvector reads '[0.1, 0.2, ...]', which is how JSON writes a list of floats.
                [json.dumps([float(x) for x in vector]) for _, _, vector in embedded],
            ],
        )


DELETE_KEYWORDS = (
    "DELETE FROM {table} USING unnest(%s::text[], %s::text[]) AS w(prefix, key) "
    "WHERE {table}.prefix = w.prefix AND {table}.key = w.key"
)
# A namespace's signed count rows (``schema``: one per writing statement) folded into one, so a
# search sums a few rows however many writes the namespace has seen.
COMPACT_COUNTS = (
    "WITH folded AS (DELETE FROM reverie_keyword_counts WHERE prefix = ANY(%s::text[]) "
    "RETURNING prefix, docs, length) INSERT INTO reverie_keyword_counts "
    "SELECT prefix, sum(docs), sum(length) FROM folded GROUP BY prefix HAVING sum(docs) <> 0"
)
INSERT_DOCS = (
    "INSERT INTO reverie_keyword_docs (prefix, key, length) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::real[])"
)
INSERT_TERMS = (
    "INSERT INTO reverie_terms (prefix, key, term, tf, length) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::real[], %s::real[])"
)


def write_keywords(rows: list[RowWrite]) -> Plan[None]:
    """Replace the keyword terms of ``rows`` (written items) with their new texts' terms."""
    pairs = params_of([(r.prefix, r.key) for r in rows])
    for table in ("reverie_terms", "reverie_keyword_docs"):
        yield from Sql(DELETE_KEYWORDS.format(table=table), pairs)
    docs: list[tuple[str, str, float]] = []
    postings: list[tuple[str, str, str, float, float]] = []
    for row in rows:
        if row.keyword_text is None:
            continue
        found = terms(row.keyword_text)
        length = float(len(found))
        docs.append((row.prefix, row.key, length))
        # Each posting repeats its document's length, so BM25 reads both from one index.
        postings += [(row.prefix, row.key, t, float(n), length) for t, n in Counter(found).items()]
    if docs:
        yield from Sql(INSERT_DOCS, [list(column) for column in zip(*docs, strict=True)])
    if postings:
        yield from Sql(INSERT_TERMS, [list(column) for column in zip(*postings, strict=True)])


def _upsert_params(rows: list[RowWrite]) -> list[Any]:
    return [
        [r.prefix for r in rows],
        [r.key for r in rows],
        [r.value_json for r in rows],
        [r.created_at for r in rows],
        [r.updated_at for r in rows],
        [r.ttl for r in rows],
    ]


def _json(value: Any, key: str) -> str:
    if not isinstance(value, Mapping):
        raise InputError(
            f"Store values must be dicts, got {type(value).__name__} for key {quoted(key)}; "
            "nothing was written."
        )
    return storable_json(dict(value), f"The value for key {quoted(key)}")


def _aware(moment: datetime) -> datetime:
    """Timestamps without a zone are taken as UTC, as LangGraph's stores write them."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
