"""Reranking a search's best candidates: by a scoring function (a cross-encoder), a LangChain
document compressor, or a chat model reading them (listwise).

A reranker reorders; it never changes an item's ``score``, which stays its cosine similarity
to the query. Each is a pipeline step (``reverie.core.effects``), so a model call runs blocking
under ``invoke`` and awaited under ``ainvoke``, with one implementation.

Plugging a cross-encoder (e.g. sentence-transformers' ``CrossEncoder``, installed separately)::

    model = CrossEncoder("cross-encoder/ms-marco-MiniLM-L-6-v2")
    reranker = ScoreReranker(lambda query, texts: model.predict([(query, t) for t in texts]))
    manager.search(query="...", rerank=reranker)
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.store.base import SearchItem

from reverie.core.effects import Effect, Invoke, Pipeline
from reverie.core.errors import InputError


def item_text(item: SearchItem) -> str:
    """The words of a memory: ``content.content`` where it has one, else its value as text."""
    content = item.value.get("content", item.value)
    if isinstance(content, dict):
        text = content.get("content")
        if isinstance(text, str):
            return text
    return str(content)


class Reranker(ABC):
    """Reorders candidates for a query; ``rerank`` returns them best first."""

    @abstractmethod
    def rerank(self, query: str, items: Sequence[SearchItem]) -> Pipeline[list[SearchItem]]:
        """A pipeline giving ``items`` reordered (all of them, none added)."""


def _by_scores(items: Sequence[SearchItem], scores: Sequence[float]) -> list[SearchItem]:
    if len(scores) != len(items):
        raise InputError(
            f"The reranker scored {len(scores)} texts for {len(items)} candidates; it must "
            "return one score per text, in order."
        )
    order = sorted(range(len(items)), key=lambda i: (-float(scores[i]), i))
    return [items[i] for i in order]


class ScoreReranker(Reranker):
    """Orders by ``score(query, texts)``: one number per text, higher is better (a cross-
    encoder's ``predict`` over ``(query, text)`` pairs, or any function)."""

    def __init__(
        self,
        score: Callable[[str, list[str]], Sequence[float]],
        text: Callable[[SearchItem], str] = item_text,
    ) -> None:
        self.score = score
        self.text = text

    def rerank(self, query: str, items: Sequence[SearchItem]) -> Pipeline[list[SearchItem]]:
        return _by_scores(items, self.score(query, [self.text(i) for i in items]))
        yield  # a pipeline that needs no I/O


class _Compress(Effect[Sequence[Document]]):
    def __init__(self, compressor: BaseDocumentCompressor, docs: list[Document], query: str):
        self.compressor, self.docs, self.query = compressor, docs, query

    def perform(self) -> Sequence[Document]:
        return self.compressor.compress_documents(self.docs, self.query)

    async def aperform(self) -> Sequence[Document]:
        return await self.compressor.acompress_documents(self.docs, self.query)


class CompressorReranker(Reranker):
    """A LangChain document compressor as reranker (Cohere's, FlashRank's, a cross-encoder
    one): the documents it returns come first in its order, the ones it dropped after them."""

    def __init__(
        self, compressor: BaseDocumentCompressor, text: Callable[[SearchItem], str] = item_text
    ) -> None:
        self.compressor = compressor
        self.text = text

    def rerank(self, query: str, items: Sequence[SearchItem]) -> Pipeline[list[SearchItem]]:
        docs = [Document(self.text(i), metadata={"reverie_rank": n}) for n, i in enumerate(items)]
        kept = yield from _Compress(self.compressor, docs, query)
        order = [d.metadata.get("reverie_rank") for d in kept]
        chosen = list(dict.fromkeys(n for n in order if isinstance(n, int) and 0 <= n < len(items)))
        rest = [n for n in range(len(items)) if n not in set(chosen)]
        return [items[n] for n in chosen + rest]


LISTWISE_PROMPT = (
    "You rank memories by how useful they are for answering a question. Reply with the numbers "
    "of the memories, most useful first, separated by commas, and nothing else."
)


class LLMReranker(Reranker):
    """A chat model reads the numbered candidates and lists them best first (listwise).

    Numbers it repeats, invents or leaves out are ignored; candidates it does not list keep
    their order after the ones it does. ``max_chars`` trims each candidate's text.
    """

    def __init__(self, model: BaseChatModel, *, max_chars: int = 500) -> None:
        self.model = model
        self.max_chars = max_chars

    def rerank(self, query: str, items: Sequence[SearchItem]) -> Pipeline[list[SearchItem]]:
        if len(items) < 2:
            return list(items)
        listing = "\n".join(
            f"[{n}] {' '.join(item_text(i).split())[: self.max_chars]}"
            for n, i in enumerate(items, start=1)
        )
        prompt = [
            SystemMessage(LISTWISE_PROMPT),
            HumanMessage(f"Question: {query}\n\nMemories:\n{listing}"),
        ]
        reply: Any = yield from Invoke(self.model, prompt)
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        picked = [int(n) - 1 for n in re.findall(r"\d+", text)]
        chosen = list(dict.fromkeys(n for n in picked if 0 <= n < len(items)))
        rest = [n for n in range(len(items)) if n not in set(chosen)]
        return [items[n] for n in chosen + rest]


__all__ = ["CompressorReranker", "LLMReranker", "Reranker", "ScoreReranker", "item_text"]
