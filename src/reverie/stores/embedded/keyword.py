"""Keyword relevance through SQLite FTS5 (BM25) over the same text that is embedded.

User queries are never passed to FTS5 as syntax: they are cut into word tokens, each token is
quoted, and the tokens are OR-ed, so quotes, ``AND``/``NEAR``, ``*`` or ``:`` in a question can
never raise a syntax error. Very common English words are dropped because they match almost
every row (making the search slow) while adding nothing to the ranking.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence

_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32
# Words so frequent in conversational text that matching them is noise.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression for ``query`` (None when it has no searchable word)."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        if token not in STOPWORDS:
            seen.setdefault(token, None)
    terms = list(seen)[:MAX_TERMS]
    if not terms:
        return None
    return "body : (" + " OR ".join(f'"{t}"' for t in terms) + ")"


def keyword_hits(
    conn: sqlite3.Connection,
    query: str,
    ns_ids: Sequence[int] | None,
    limit: int | None,
) -> list[tuple[int, float]]:
    """(item id, relevance > 0) best first. ``ns_ids=None`` searches every namespace."""
    expression = match_expression(query)
    if expression is None:
        return []
    if ns_ids is not None:
        if not ns_ids:
            return []
        scope = " OR ".join(f"n{int(i)}" for i in ns_ids)
        expression = f"ns : ({scope}) AND {expression}"
    sql = (
        "SELECT rowid, bm25(items_fts, 1.0, 0.0) FROM items_fts WHERE items_fts MATCH ? "
        "ORDER BY bm25(items_fts, 1.0, 0.0)"
    )
    params: tuple[object, ...] = (expression,)
    if limit is not None:
        sql += " LIMIT ?"
        params = (expression, limit)
    # bm25() is lower-is-better and negative; flip it so larger means more relevant.
    return [(int(rowid), -float(score)) for rowid, score in conn.execute(sql, params)]


def namespace_token(ns_id: int) -> str:
    return f"n{ns_id}"
