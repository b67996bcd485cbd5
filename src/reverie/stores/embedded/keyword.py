"""Keyword relevance: BM25 over each item's keyword text, from an in-process inverted index.

Why not SQLite FTS5: it scores every document matching any query word before it can sort, so a
question containing a common word costs tens of milliseconds at 100k memories. Here each
namespace's postings live in numpy arrays next to its vector matrix (same cache, same
invalidation), and a query costs one ``bincount`` over the postings of its few words.

Queries are plain text, never a query language: any characters are safe. Terms are those of
``reverie.retrieval.terms`` (stemmed, without stop words), as in the PostgreSQL store.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt

from reverie.retrieval.terms import terms

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 32


def tokens(text: str) -> list[str]:
    """The keyword terms of ``text`` (see ``reverie.retrieval.terms``)."""
    return terms(text)


class NamespaceKeywords:
    """BM25 inverted index of one namespace; ``ids[d]`` is the item id of document ``d``.

    Postings built at load time live in two flat arrays sorted by term (``spans`` gives each
    term's slice), which is far cheaper to build than one small array per term; postings added
    later by this process's writes sit in small per-term lists.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.lengths: list[float] = []
        self.alive: list[bool] = []
        self.doc_of: dict[int, int] = {}
        self.flat_docs = np.empty(0, dtype=np.int64)
        self.flat_freqs = np.empty(0, dtype=np.float32)
        self.spans: dict[str, tuple[int, int]] = {}
        self.extra: dict[str, tuple[list[int], list[float]]] = {}
        self.live_docs = 0
        self.live_length = 0.0
        self.postings_count = 0
        self._arrays: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]
        self._dirty = True
        self._norm = np.empty(0, dtype=np.float32)
        self._norm_key: tuple[int, int, float] | None = None

    @property
    def nbytes(self) -> int:
        """Approximate memory held: 12 bytes per posting plus per-document bookkeeping."""
        return 12 * self.postings_count + 64 * len(self.ids)

    @classmethod
    def build(cls, rows: list[tuple[int, str]]) -> NamespaceKeywords:
        index = cls()
        term_ids: dict[str, int] = {}
        t_list: list[int] = []
        d_list: list[int] = []
        f_list: list[float] = []
        for item_id, text in rows:
            words = tokens(text)
            doc = index._new_doc(item_id, words)
            for term, count in Counter(words).items():
                t_list.append(term_ids.setdefault(term, len(term_ids)))
                d_list.append(doc)
                f_list.append(float(count))
        if t_list:
            terms = np.asarray(t_list, dtype=np.int64)
            order = np.argsort(terms, kind="stable")
            index.flat_docs = np.asarray(d_list, dtype=np.int64)[order]
            index.flat_freqs = np.asarray(f_list, dtype=np.float32)[order]
            sorted_terms = terms[order]
            starts = np.flatnonzero(np.r_[True, sorted_terms[1:] != sorted_terms[:-1]])
            ends = np.r_[starts[1:], len(sorted_terms)]
            names = list(term_ids)
            index.spans = {
                names[t]: (s, e)
                for t, s, e in zip(
                    sorted_terms[starts].tolist(), starts.tolist(), ends.tolist(), strict=True
                )
            }
            index.postings_count = len(t_list)
        return index

    def _new_doc(self, item_id: int, words: list[str]) -> int:
        doc = len(self.ids)
        length = float(len(words))
        self.ids.append(item_id)
        self.lengths.append(length)
        self.alive.append(True)
        self.doc_of[item_id] = doc
        self.live_docs += 1
        self.live_length += length
        self._dirty = True
        return doc

    def add(self, item_id: int, text: str) -> None:
        words = tokens(text)
        doc = self._new_doc(item_id, words)
        for term, count in Counter(words).items():
            docs, freqs = self.extra.setdefault(term, ([], []))
            docs.append(doc)
            freqs.append(float(count))
            self.postings_count += 1

    def postings(self, term: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None:
        span = self.spans.get(term)
        extra = self.extra.get(term)
        if span is None and extra is None:
            return None
        docs = self.flat_docs[span[0] : span[1]] if span else self.flat_docs[:0]
        freqs = self.flat_freqs[span[0] : span[1]] if span else self.flat_freqs[:0]
        if extra:
            docs = np.concatenate([docs, np.asarray(extra[0], dtype=np.int64)])
            freqs = np.concatenate([freqs, np.asarray(extra[1], dtype=np.float32)])
        return docs, freqs

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

    def _norms(self) -> npt.NDArray[np.float32]:
        """Per-document BM25 length normalisation, recomputed only after writes."""
        key = (len(self.ids), self.live_docs, self.live_length)
        if self._norm_key != key:
            _, lengths, _ = self._doc_arrays()
            average = self.live_length / self.live_docs if self.live_docs else 1.0
            self._norm = (K1 * (1.0 - B + B * lengths / (average or 1.0))).astype(np.float32)
            self._norm_key = key
        return self._norm

    def frequencies(self, wanted: list[str]) -> dict[str, int]:
        """How many live documents contain each of the terms ``wanted``."""
        _, _, alive = self._doc_arrays()
        every_alive = bool(alive.all())  # one pass over the documents, not one per term
        found: dict[str, int] = {}
        for term in wanted:
            postings = self.postings(term)
            if postings is not None:
                docs = postings[0]
                found[term] = len(docs) if every_alive else int(alive[docs].sum())
        return found

    def scores(self, query: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(item id, BM25 > 0) of every live document sharing a word with ``query``."""
        terms = list(dict.fromkeys(tokens(query)))[:MAX_QUERY_TERMS]
        found = [p for p in (self.postings(t) for t in terms) if p is not None]
        if not found or not self.live_docs:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ids, _, alive = self._doc_arrays()
        norm = self._norms()
        total = np.zeros(len(ids), dtype=np.float32)
        every_alive = bool(alive.all())
        for docs, freqs in found:
            df = len(docs) if every_alive else int(alive[docs].sum())
            idf = math.log(1.0 + (self.live_docs - df + 0.5) / (df + 0.5))
            total[docs] += idf * freqs * (K1 + 1.0) / (freqs + norm[docs])
        hit = np.flatnonzero((total > 0) & alive)
        return ids[hit], total[hit]
