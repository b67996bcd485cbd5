"""The words keyword search matches on: lower-cased, without stop words, stemmed.

Both stores index and query with these same terms, so their BM25 scores agree. Stemming
(Snowball's English stemmer) lets "painting" find "painted" and "dogs" find "dog"; on LoCoMo's
tuning half it raised hybrid recall@10 by about 0.03. Queries are plain text, never a query
language: any characters are safe.

A "word" longer than ``MAX_WORD`` characters (base64, a hash, text in a script written without
spaces) becomes a short stand-in: its start and a hash of all of it. Whole, it could not be
indexed by PostgreSQL (a B-tree row holds about 2.7 KB), yet a query holding the same word
still matches it, in both stores.
"""

from __future__ import annotations

import hashlib
import re
import threading

import snowballstemmer

_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORD_TEXT = """a about above after again all am an and any are as at be been before being below between
    both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
MAX_STEMS = 200_000  # the memo is cleared past this many distinct words
MAX_WORD = 64  # longer "words" (hashes, base64) are not stemmed but stood in for
STAND_IN_PREFIX = 32

_stems: dict[str, str] = {}
_stemmer_of = threading.local()  # a Snowball stemmer object is not safe to share across threads


def _stem(word: str) -> str:
    stem = _stems.get(word)
    if stem is None:
        stemmer = getattr(_stemmer_of, "english", None)
        if stemmer is None:
            stemmer = _stemmer_of.english = snowballstemmer.stemmer("english")
        stem = stemmer.stemWord(word) if len(word) <= MAX_WORD else stand_in(word)
        if len(_stems) >= MAX_STEMS:
            _stems.clear()
        _stems[word] = stem
    return stem


def stand_in(word: str) -> str:
    """The term of a word over ``MAX_WORD`` characters: 49 characters at most. The ``~``, which
    no word holds, keeps it from ever equalling a real word's term. PostgreSQL's keyword
    migration (``reverie_terms_long_words``) finds the terms indexed before by their length."""
    digest = hashlib.sha256(word.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{word[:STAND_IN_PREFIX]}~{digest}"


def terms(text: str) -> list[str]:
    """The keyword terms of ``text``, in order, repeated as often as they occur."""
    return [_stem(w) for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]


__all__ = ["MAX_WORD", "STOPWORDS", "stand_in", "terms"]
