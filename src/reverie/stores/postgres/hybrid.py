"""Hybrid search on PostgreSQL: the same candidate pool and fusion as the embedded store.

The pool is gathered in a few statements: the ``pool`` nearest items (exactly in small
namespaces, through the HNSW index in large ones, as vector search does), the ``pool`` best by
BM25 (``reverie_terms``, with the embedded store's formula and terms, so the scores agree), then
the context of every candidate and its neighbours in their episodes, and the exact cosine of
candidates the vector list did not score. ``reverie.retrieval.fusion`` orders the pool; the
page's items come back with their cosine as the score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from reverie.core.indexing import RankingOptions
from reverie.retrieval.diversity import diversify
from reverie.retrieval.fusion import Pool, rank_pool
from reverie.retrieval.query_text import query_terms
from reverie.retrieval.query_text import vector_text as common_words_removed
from reverie.retrieval.terms import terms
from reverie.stores.postgres.filters import filter_clause
from reverie.stores.postgres.indexing import IndexSettings
from reverie.stores.postgres.namespaces import ALIVE, scope
from reverie.stores.postgres.steps import Plan, Row, Sql

K1, B = 1.2, 0.75  # as the embedded store's BM25
MAX_QUERY_TERMS = 32
Key = tuple[str, str]  # (prefix, key)

# Postings are read term by term through the primary key (prefix, term, key), which includes
# the term counts and the document lengths, so from the index alone: planned as joins,
# PostgreSQL misjudged how many a query term has and scanned every term of the namespace (tens
# of milliseconds at 10k memories). A posting an earlier release writes without the length
# gets it from its document when written (a trigger, see ``schema``), not here. A term's
# document frequency is the count of its postings, counted on their own (a window over the
# postings sorted all of them: 6.7 against 7.6 ms per statement at 10k).
# Each term's share is rounded to a multiple of 2**-30 first: sums of such numbers are exact in
# any order, so equal items get equal scores (and keep their insertion order) however the rows
# arrive.
_SCORED = """
WITH q AS (SELECT DISTINCT unnest(%s::text[]) AS term),
docs AS (SELECT d.prefix, sum(d.docs)::float8 AS n, sum(d.length) / sum(d.docs)::float8 AS avgdl
         FROM reverie_keyword_counts AS d WHERE {docs_scope} GROUP BY d.prefix
         HAVING sum(d.docs) > 0),
postings AS (
  SELECT t.prefix, t.key, t.tf, t.length, f.df
  FROM docs CROSS JOIN q CROSS JOIN LATERAL (
    SELECT count(*)::float8 AS df FROM reverie_terms AS t
    WHERE t.prefix = docs.prefix AND t.term = q.term) AS f CROSS JOIN LATERAL (
    SELECT t.prefix, t.key, t.tf, t.length FROM reverie_terms AS t
    WHERE t.prefix = docs.prefix AND t.term = q.term OFFSET 0) AS t),
scored AS MATERIALIZED (
  SELECT p.prefix, p.key, sum(round(ln(1 + (docs.n - p.df + 0.5) / (p.df + 0.5)) * p.tf * {k1_1}
         / (p.tf + {k1} * (1 - {b} + {b} * p.length / greatest(docs.avgdl, 1e-9))) * {grid})
         ) / {grid} AS bm25
  FROM postings AS p JOIN docs ON docs.prefix = p.prefix
  GROUP BY p.prefix, p.key)
"""
# Without a filter, only the items scoring at least the ``pool``-th best score are looked up in
# ``store`` (alive, and their insertion order for ties), instead of every matching item.
_BM25_BEST = (
    _SCORED
    + """, cut AS (SELECT s.bm25 FROM scored AS s ORDER BY s.bm25 DESC OFFSET %s LIMIT 1)
SELECT s.prefix, s.key, s.bm25, (SELECT count(*) FROM scored) AS matches FROM scored AS s
CROSS JOIN LATERAL (SELECT store.reverie_seq FROM store
  WHERE store.prefix = s.prefix AND store.key = s.key AND {alive} OFFSET 0) AS store
WHERE s.bm25 >= coalesce((SELECT c.bm25 FROM cut AS c), '-Infinity'::float8)
ORDER BY s.bm25 DESC, store.reverie_seq LIMIT %s
"""
)
_BM25_FILTERED = (
    _SCORED
    + """SELECT s.prefix, s.key, s.bm25 FROM scored AS s
JOIN store ON store.prefix = s.prefix AND store.key = s.key
WHERE {alive}{filters}
ORDER BY s.bm25 DESC, store.reverie_seq LIMIT %s
"""
)


def keyword_candidates(
    namespace: tuple[str, ...],
    descendants: bool,
    query: str,
    filter: Any,
    pool: int,
) -> Plan[dict[Key, float]]:
    """The ``pool`` best items by BM25 (per namespace statistics), with their scores."""
    wanted = list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]
    if not wanted:
        return {}
    docs_scope, docs_params = scope("d.prefix", namespace, descendants)
    filters, filter_params = filter_clause(filter)
    formats = {
        "docs_scope": docs_scope, "alive": ALIVE, "k1": K1, "k1_1": K1 + 1, "b": B, "grid": 2**30,
    }  # fmt: skip
    rows: list[Row] = []
    if not filters:
        sql = _BM25_BEST.format(**formats)
        rows = yield from Sql(sql, [wanted, *docs_params, pool - 1, pool])
    if filters or (len(rows) < pool and (not rows or rows[0]["matches"] > len(rows))):
        # A filter (on the item's value), or some of the best matches expired: every match is
        # looked up.
        sql = _BM25_FILTERED.format(filters=filters, **formats)
        rows = yield from Sql(sql, [wanted, *docs_params, *filter_params, pool])
    return {(r["prefix"], r["key"]): float(r["bm25"]) for r in rows}


def vector_text(
    query: str, scopes: Sequence[tuple[tuple[str, ...], bool]], share: float
) -> Plan[str]:
    """The text embedded for ``query``, searched in ``scopes`` ((namespace, descendants)):
    without the words found in at least ``share`` of their memories
    (``reverie.retrieval.query_text``), from the keyword index's document counts, as the
    embedded store counts them."""
    wanted = query_terms(query)
    if not wanted or not scopes:
        return query
    where: list[str] = []
    params: list[Any] = []
    for namespace, descendants in dict.fromkeys(scopes):
        clause, clause_params = scope("d.prefix", namespace, descendants)
        where.append(clause)
        params += clause_params
    # Each namespace's postings are counted by (prefix, term), through the primary key, as the
    # BM25 statement reads them: a prefix condition on the postings themselves scanned every
    # posting below it (75 ms at 10k memories).
    rows = yield from Sql(
        "WITH docs AS (SELECT d.prefix, sum(d.docs) AS n FROM reverie_keyword_counts AS d "
        f"WHERE {' OR '.join(where)} GROUP BY d.prefix HAVING sum(d.docs) > 0) "
        "SELECT q.term, (SELECT coalesce(sum(docs.n), 0) FROM docs) AS n, "
        "(SELECT coalesce(sum(c.df), 0) FROM docs CROSS JOIN LATERAL (SELECT count(*) AS df "
        "FROM reverie_terms AS t WHERE t.prefix = docs.prefix AND t.term = q.term) AS c) AS df "
        "FROM unnest(%s::text[]) AS q(term)",
        [*params, wanted],
    )
    memories = int(rows[0]["n"]) if rows else 0
    frequency = {r["term"]: int(r["df"]) for r in rows}
    return common_words_removed(query, frequency, memories, share)


def _context_columns(index: IndexSettings) -> tuple[str, list[Any]]:
    episode, position, speaker = ("{" + p.replace(".", ",") + "}" for p in index.episodes.paths)
    # As ``EpisodeFields.of`` reads them, so both stores rank alike: an empty, object or array
    # episode id is no episode, an empty speaker no speaker.
    columns = (
        "store.reverie_seq, CASE WHEN jsonb_typeof(store.value #> %s) NOT IN ('object', 'array') "
        "THEN NULLIF(store.value #>> %s, '') END AS episode, "
        "CASE WHEN jsonb_typeof(store.value #> %s) = 'number' "
        "THEN (store.value #>> %s)::float8 END AS position, "
        "CASE WHEN jsonb_typeof(store.value #> %s) = 'string' "
        "THEN NULLIF(store.value #>> %s, '') END AS speaker"
    )
    return columns, [episode, episode, position, position, speaker, speaker]


def pool_context(
    keys: Sequence[Key], index: IndexSettings, filter: Any
) -> Plan[tuple[list[Row], list[Row]]]:
    """(candidates' context rows, their neighbours' context rows): the neighbours are the
    items at position -1 and +1 of the same episode, indexed and alive, matching ``filter``;
    each once, however many candidates it neighbours."""
    columns, params = _context_columns(index)
    # The paths as literals: the same expressions as the episode index's, so it is used.
    episode_path, position_path = index.episode_paths()
    filters, filter_params = filter_clause(filter)
    # One statement (one round trip): the candidates, then the positions beside them.
    rows = yield from Sql(
        f"WITH found AS MATERIALIZED (SELECT store.prefix, store.key, {columns} FROM store "
        "JOIN unnest(%s::text[], %s::text[]) AS c(prefix, key) "
        "ON store.prefix = c.prefix AND store.key = c.key), "
        "wanted AS (SELECT DISTINCT f.prefix, f.episode, f.position + s.step AS position "
        "FROM found AS f CROSS JOIN (VALUES (-1.0::float8), (1.0::float8)) AS s(step) "
        "WHERE f.episode IS NOT NULL AND f.position IS NOT NULL) "
        "SELECT true AS candidate, found.* FROM found UNION ALL "
        f"SELECT false, store.prefix, store.key, {columns} FROM store JOIN wanted AS w "
        f"ON store.prefix = w.prefix AND store.value #>> {episode_path} = w.episode "
        f"AND store.value #> {position_path} = to_jsonb(w.position) "
        f"WHERE {ALIVE}{filters} AND (EXISTS (SELECT 1 FROM reverie_keyword_docs AS d "
        "WHERE d.prefix = store.prefix AND d.key = store.key) OR EXISTS (SELECT 1 FROM "
        "store_vectors AS v WHERE v.prefix = store.prefix AND v.key = store.key))",
        [
            *params,
            [p for p, _ in keys],
            [k for _, k in keys],
            *params,
            *filter_params,
        ],
    )
    known = set(keys)
    found = [r for r in rows if r["candidate"]]
    near = [r for r in rows if not r["candidate"] and (r["prefix"], r["key"]) not in known]
    return found, near


def cosines_of(
    keys: Sequence[Key], vector: list[float], index: IndexSettings
) -> Plan[dict[Key, float]]:
    """The exact similarity of each of ``keys`` that has a vector (its best field's)."""
    if not keys:
        return {}
    # The best distance per item in a subquery: grouping the joined rows sorted them with their
    # vectors (about 1 ms for a pool of 300 items).
    distance = f"min(sv.embedding {index.operator} {index.query_vector()})"
    rows = yield from Sql(
        f"SELECT c.prefix, c.key, {index.similarity('c.distance')} AS score FROM ("
        f"SELECT c.prefix, c.key, (SELECT {distance} FROM store_vectors AS sv "
        "WHERE sv.prefix = c.prefix AND sv.key = c.key) AS distance "
        "FROM unnest(%s::text[], %s::text[]) AS c(prefix, key)) AS c",
        [vector, [p for p, _ in keys], [k for _, k in keys]],
    )
    # Items without a vector have no distance (filtered here: a condition on it in SQL
    # computed every distance twice).
    return {(r["prefix"], r["key"]): float(r["score"]) for r in rows if r["score"] is not None}


def rank(
    query: str,
    cosine: dict[Key, float],
    keyword: dict[Key, float],
    context: list[Row],
    options: RankingOptions,
) -> list[Key]:
    """The pool ordered by ``reverie.retrieval.fusion`` (ties in listing order)."""
    keys = [(r["prefix"], r["key"]) for r in context]
    pool = Pool(
        cosine=np.asarray([cosine.get(k, np.nan) for k in keys], dtype=np.float64),
        keyword=np.asarray([keyword.get(k, 0.0) for k in keys], dtype=np.float64),
        order=np.asarray([int(r["reverie_seq"] or 0) for r in context], dtype=np.int64),
        episode=[
            (r["prefix"], r["episode"]) if r["episode"] is not None else None for r in context
        ],
        position=np.asarray(
            [np.nan if r["position"] is None else r["position"] for r in context], dtype=np.float64
        ),
        speaker=[r["speaker"] for r in context],
    )
    return [keys[i] for i in rank_pool(pool, query, options).tolist()]


def diversified(ranked: list[Key], diversity: float, wanted: int, dims: int) -> Plan[list[Key]]:
    """``ranked`` with its best ``3 * wanted`` (at least 30) reordered by MMR."""
    head = ranked[: max(3 * wanted, 30)]
    if diversity <= 0 or len(head) < 2:
        return ranked
    rows = yield from Sql(
        "SELECT DISTINCT ON (sv.prefix, sv.key) sv.prefix, sv.key, sv.embedding::text AS v "
        "FROM store_vectors AS sv JOIN unnest(%s::text[], %s::text[]) AS c(prefix, key) "
        "ON sv.prefix = c.prefix AND sv.key = c.key ORDER BY sv.prefix, sv.key, sv.field_name",
        [[p for p, _ in head], [k for _, k in head]],
    )
    found = {(r["prefix"], r["key"]): json.loads(r["v"]) for r in rows}
    vectors = np.zeros((len(head), dims), dtype=np.float32)
    for n, key in enumerate(head):
        if key in found:
            row = np.asarray(found[key], dtype=np.float32)
            vectors[n] = row / (float(np.linalg.norm(row)) or 1.0)
    order = diversify(vectors, diversity, len(head))
    return [head[i] for i in order] + ranked[len(head) :]
