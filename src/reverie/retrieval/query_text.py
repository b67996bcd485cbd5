"""The text a hybrid search embeds for its query: the query less the words most memories share.

A word found in most of the searched memories (the speakers' names in a chat, the year every
dated turn carries) says nothing about which memory is meant, yet in the query's vector it
weighs as much as the words that do: "What activities does Melanie partake in?" is embedded
close to every turn that names Melanie. So the vector is computed without such words; keyword
ranking still sees the whole query (and BM25 already gives them almost no weight), and the
speaker feature still favours the speaker named. On LoCoMo's tuning half (conversations 0-4)
this lifted session recall@10 from 0.943 to 0.953 and turn recall@10 from 0.791 to 0.800;
the share (``RankingOptions.common_word_share``, 0.6) was chosen there, from 0.3 and 0.6.
The floor of :data:`MIN_MEMORIES` was not tuned (LoCoMo's conversations hold hundreds of turns):
below it, a word in most memories may be there by chance.

Both stores call :func:`vector_text` with the document frequencies of their keyword index,
so they embed the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from reverie.retrieval.terms import terms

MIN_MEMORIES = 50  # fewer keyword-indexed memories than this: frequencies say too little
MAX_TERMS = 32  # as both stores' keyword search
# A word, with its possessive ("Melanie's") and any space before it.
_WORD = re.compile(r"\s*(\w+)(?:['\u2019]s\b)?", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """The distinct keyword terms of ``query`` whose frequencies :func:`vector_text` needs: the
    first ``MAX_TERMS``, as keyword search reads them (a word past them is never left out)."""
    return list(dict.fromkeys(terms(query)))[:MAX_TERMS]


def vector_text(
    query: str, frequency: Mapping[str, int], memories: int, share: float | None
) -> str:
    """``query`` less its words whose every term occurs in at least ``share`` of the
    ``memories`` searched (``frequency``: term -> how many of them contain it;
    ``RankingOptions.common_word_share``, None: none left out). The query is kept whole when
    the memories are too few to tell, or when no other word would remain."""
    if share is None or memories < MIN_MEMORIES:
        return query
    least = share * memories
    kept: list[str] = []
    dropped = informative = 0
    end = 0
    for match in _WORD.finditer(query):
        kept.append(query[end : match.start()])
        end = match.end()
        found = terms(match.group(1))
        if found and all(frequency.get(t, 0) >= least for t in found):
            dropped += 1
            continue
        informative += bool(found)
        kept.append(match.group())
    kept.append(query[end:])
    if not dropped or not informative:
        return query
    return "".join(kept).strip()


def shared_share(shares: Iterable[float | None]) -> float | None:
    """The ``common_word_share`` for searches that share one query vector: theirs if they all
    agree, else None (the query embedded whole)."""
    distinct = set(shares)
    return distinct.pop() if len(distinct) == 1 else None


__all__ = ["MIN_MEMORIES", "query_terms", "shared_share", "vector_text"]
