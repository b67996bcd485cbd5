"""Search latency on LoCoMo's questions at 10,000 memories in one namespace, query embedding
included (the local MiniLM model embeds each question as it is asked) and excluded, for vector
and hybrid search side by side in one run, hybrid also with the query embedded by numpy as
before onnxruntime ran it; and embedding throughput on LoCoMo's turns."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp

from benchmarks.common import percentiles
from benchmarks.locomo_data import Conversation
from reverie.cli.conversation import conversation_id
from reverie.cli.episodes import EPISODE_INDEX_FIELDS, episode_key, episode_values
from reverie.stores.embedded import EmbeddedStore, SearchMode

MEMORIES = 10_000
# Passes over the questions per embedded row, the median reported: on a shared 2-core machine one
# pass's p95 moved by up to 0.5 ms between runs of the same code.
ROUNDS = 3


class LiveQueries(Embeddings):
    """Documents from the precomputed table; queries embedded by ``model`` when ``live``."""

    def __init__(self, table: dict[str, list[float]], model: Embeddings) -> None:
        self.table = table
        self.model = model
        self.live = True
        self.spent_ms = 0.0  # time inside live embed_query calls

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        if self.live:
            start = time.perf_counter()
            vector = self.model.embed_query(text)
            self.spent_ms += (time.perf_counter() - start) * 1000
            return vector
        if text not in self.table:  # a question less its common words (see TableEmbeddings)
            self.table[text] = self.model.embed_query(text)
        return self.table[text]


def fill(store: Any, conversations: list[Conversation], namespace: tuple[str, ...]) -> int:
    """Store LoCoMo's sessions as episodes, copied under new episode ids until ``MEMORIES``."""
    stored, copy = 0, 0
    while stored < MEMORIES and copy < 20:
        for conv in conversations:
            for _, messages, _ in conv.sessions:
                episode = f"{conversation_id(messages)}-{copy}"
                puts = []
                for turn, value in episode_values(messages).items():
                    value["content"]["conversation"] = episode
                    key = episode_key(episode, turn)
                    puts.append(PutOp(namespace, key, value, index=EPISODE_INDEX_FIELDS))
                store.batch(puts[: MEMORIES - stored])
                stored += min(len(puts), MEMORIES - stored)
        copy += 1
    return stored


def timed_searches(
    store: Any,
    embeddings: LiveQueries,
    namespace: tuple[str, ...],
    questions: list[str],
    rounds: int = ROUNDS,
) -> list[float]:
    """[p50, p95 with query embedding, p50, p95 without, p50 of the search part of a search with
    query embedding] of searching ``questions``, each the median over ``rounds`` passes (with
    and without embedding take turns). The last is the time besides the embedding, measured in
    the same searches: it runs after the embedding, which has most likely displaced the search's
    code and data from the CPU's caches; the search-only passes run with them warm."""
    passes: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    besides: list[float] = []
    # The search-only passes read each question's vector from the table; a question less its
    # common words is embedded the first time it is seen, so see each once before timing.
    embeddings.live = False
    for question in questions:
        store.search(namespace, query=question)
    for _ in range(rounds):
        for live in (True, False):
            embeddings.live = live
            for question in questions[:20]:  # warm the caches and the model
                store.search(namespace, query=question)
            timings: list[float] = []
            rest: list[float] = []
            for question in questions:
                embeddings.spent_ms = 0.0
                start = time.perf_counter()
                store.search(namespace, query=question)
                timings.append((time.perf_counter() - start) * 1000)
                rest.append(timings[-1] - embeddings.spent_ms)
            passes[live].append(percentiles(timings))
            if live:
                besides.append(percentiles(rest)["p50"])
    return [
        *(
            statistics.median(p[key] for p in passes[live])
            for live in (True, False)
            for key in ("p50", "p95")
        ),
        statistics.median(besides),
    ]


def latency(
    conversations: list[Conversation],
    table: dict[str, list[float]],
    model: Embeddings,
    workdir: Path,
    quick: bool,
) -> dict[str, Any]:
    embeddings = LiveQueries(table, model)
    index = {"dims": len(next(iter(table.values()))), "embed": embeddings}
    namespace = ("latency",)
    questions = [q.text for c in conversations for q in c.questions][: 200 if quick else None]
    rows: dict[str, list[float]] = {}
    with EmbeddedStore(workdir / "latency.db", index=index) as store:  # type: ignore[arg-type]
        stored = fill(store, conversations, namespace)
        modes: tuple[SearchMode, ...] = ("vector", "hybrid")
        for mode in modes:
            store.search_mode = mode
            name = "hybrid (default)" if mode == "hybrid" else "vector only"
            rows[name] = timed_searches(store, embeddings, namespace, questions)
        before = _numpy_queries(model)
        if before is not None:  # side by side: the query embedded as before onnxruntime
            store.search_mode = "hybrid"
            embeddings.model = before
            rows["hybrid, query via numpy (before)"] = timed_searches(
                store, embeddings, namespace, questions
            )
            embeddings.model = model
    postgres = _postgres_row(conversations, embeddings, index, namespace, questions)
    if isinstance(postgres, list):
        rows["PostgreSQL hybrid (default)"] = postgres
    texts = [
        value["context"]["for_embedding"]
        for conv in conversations
        for _, messages, _ in conv.sessions
        for value in episode_values(messages).values()
    ]
    sample = list(dict.fromkeys(texts))[: 200 if quick else 1000]
    start = time.perf_counter()
    model.embed_documents(sample)
    per_s = len(sample) / (time.perf_counter() - start)
    result = {
        "memories": stored,
        "queries": len(questions),
        "rounds": ROUNDS,
        "rows": rows,
        "turns_per_s": per_s,
    }
    if not isinstance(postgres, list):
        result["postgres"] = postgres
    return result


def _numpy_queries(model: Embeddings) -> Embeddings | None:
    """The same local model with queries through numpy, where ``model`` runs them elsewhere."""
    from reverie.embeddings import LocalMiniLMEmbeddings

    if not isinstance(model, LocalMiniLMEmbeddings) or model.query_engine == "numpy":
        return None
    numpy_model = LocalMiniLMEmbeddings(model.model_dir, query_engine="numpy")
    numpy_model.embed_query("warm up")
    return numpy_model


def _postgres_row(
    conversations: list[Conversation],
    embeddings: LiveQueries,
    index: dict[str, Any],
    namespace: tuple[str, ...],
    questions: list[str],
) -> list[float] | str:
    """The same searches on Reverie's PostgreSQL store (a fresh database), or why not."""
    from benchmarks.locomo_postgres import with_postgres  # needs reverie[postgres] and a server

    def job(store: Any) -> list[float]:
        fill(store, conversations, namespace)
        return timed_searches(store, embeddings, namespace, questions, rounds=1)

    found = with_postgres(job, index)["postgres"]
    return found if isinstance(found, list) else str(found)
