"""Keyword relevance: BM25 over the same text that is embedded, from an in-process inverted index.

Why not SQLite FTS5: it scores every document matching any query word before it can sort, so a
question containing a common word costs tens of milliseconds at 100k memories. Here each
namespace's postings live in numpy arrays next to its vector matrix (same cache, same
invalidation), and a query costs one ``bincount`` over the postings of its few words.

Queries are plain text, never a query language: any characters are safe. Very common English
words are ignored; they match nearly everything and carry no signal.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

_TOKEN = re.compile(r"\w+", re.UNICODE)
K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 32
_STOPWORD_TEXT = """a about above after again all am an and any are as at be been before being below between
    both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


@dataclass
class _Postings:
    docs: npt.NDArray[np.int64]
    freqs: npt.NDArray[np.float32]
    pending_docs: list[int] = field(default_factory=list)
    pending_freqs: list[float] = field(default_factory=list)

    def arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        if self.pending_docs:
            self.docs = np.concatenate([self.docs, np.asarray(self.pending_docs, dtype=np.int64)])
            self.freqs = np.concatenate(
                [self.freqs, np.asarray(self.pending_freqs, dtype=np.float32)]
            )
            self.pending_docs, self.pending_freqs = [], []
        return self.docs, self.freqs


class NamespaceKeywords:
    """BM25 inverted index of one namespace; ``ids[d]`` is the item id of document ``d``."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.lengths: list[float] = []
        self.alive: list[bool] = []
        self.doc_of: dict[int, int] = {}
        self.postings: dict[str, _Postings] = {}
        self.live_docs = 0
        self.live_length = 0.0
        self._arrays: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]
        self._dirty = True

    @classmethod
    def build(cls, rows: list[tuple[int, str]]) -> NamespaceKeywords:
        index = cls()
        grouped: dict[str, tuple[list[int], list[float]]] = {}
        for item_id, text in rows:
            doc = index._new_doc(item_id, text)
            for term, count in Counter(tokens(text)).items():
                entry = grouped.setdefault(term, ([], []))
                entry[0].append(doc)
                entry[1].append(float(count))
        index.postings = {
            term: _Postings(np.asarray(d, dtype=np.int64), np.asarray(f, dtype=np.float32))
            for term, (d, f) in grouped.items()
        }
        return index

    def _new_doc(self, item_id: int, text: str) -> int:
        doc = len(self.ids)
        length = float(len(tokens(text)))
        self.ids.append(item_id)
        self.lengths.append(length)
        self.alive.append(True)
        self.doc_of[item_id] = doc
        self.live_docs += 1
        self.live_length += length
        self._dirty = True
        return doc

    def add(self, item_id: int, text: str) -> None:
        doc = self._new_doc(item_id, text)
        for term, count in Counter(tokens(text)).items():
            entry = self.postings.get(term)
            if entry is None:
                entry = self.postings[term] = _Postings(
                    np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
                )
            entry.pending_docs.append(doc)
            entry.pending_freqs.append(float(count))

    def remove(self, item_id: int) -> None:
        doc = self.doc_of.pop(item_id, None)
        if doc is not None and self.alive[doc]:
            self.alive[doc] = False
            self.live_docs -= 1
            self.live_length -= self.lengths[doc]
            self._dirty = True

    def _doc_arrays(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        if self._dirty:
            self._arrays = (
                np.asarray(self.ids, dtype=np.int64),
                np.asarray(self.lengths, dtype=np.float32),
                np.asarray(self.alive, dtype=bool),
            )
            self._dirty = False
        return self._arrays

    def scores(self, query: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(item id, BM25 > 0) of every live document sharing a word with ``query``."""
        terms = list(dict.fromkeys(tokens(query)))[:MAX_QUERY_TERMS]
        found = [self.postings[t] for t in terms if t in self.postings]
        if not found or not self.live_docs:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ids, lengths, alive = self._doc_arrays()
        norm = K1 * (1.0 - B + B * lengths / (self.live_length / self.live_docs or 1.0))
        total = np.zeros(len(ids), dtype=np.float32)
        for entry in found:
            docs, freqs = entry.arrays()
            df = len(docs) if alive.all() else int(alive[docs].sum())
            idf = math.log(1.0 + (self.live_docs - df + 0.5) / (df + 0.5))
            total[docs] += idf * freqs * (K1 + 1.0) / (freqs + norm[docs])
        hit = np.flatnonzero((total > 0) & alive)
        return ids[hit], total[hit]
