"""Retrieval quality on LoCoMo, tuned on one half and reported on the other, on both stores.

Every LoCoMo session is stored as one episode of chat turns (``benchmarks.locomo_data``), the
way ``reverie ingest`` stores a chat export; for each question the turns cited as evidence are
the relevant items. Turn-level recall@k: share of the evidence turns among the top k results
of a search with ``limit=10``, what a default search returns (a deeper search ranks a larger
pool of candidates, so its top 10 can differ). Session-level recall@k: sessions ranked by
their best-ranked turn, share of the evidence sessions among the first k; the ranking is read
until it names ten sessions (``SESSION_DEPTH`` results when the first ten name fewer, as they
nearly always do). Averaged over questions of categories 1-4 with evidence
(category 5 is unanswerable by design), LoCoMo's numbering (1 multi-hop, 2 temporal,
3 open-domain, 4 single-hop).

**Tuning procedure**: every ranking default (``reverie.RankingOptions``, the episode context)
was chosen by grid search on conversations 0-4 only; conversations 5-9 were never used to
choose anything and are reported as the held-out figures. A second table scores against the
evidence as corrected by the LoCoMo audit (``locomo10_audit_errors.json``: each question it
lists takes its ``correct_evidence``).

Configurations: "turn text, plain fusion" is the previous design (each turn's text, embedded
and keyword-indexed alike, reciprocal rank fusion with k=10; the keyword side now stemmed);
the others store episodes with their context and rank with the given mode. Embeddings:
all-MiniLM-L6-v2 (``LocalMiniLMEmbeddings``), computed once and shared by every configuration
and both stores, so they see identical vectors.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, PutOp, SearchItem

from benchmarks.common import markdown_table, percentiles, write_results
from benchmarks.locomo_data import CATEGORIES, TUNING, Conversation, load, session_of
from benchmarks.locomo_latency import latency
from reverie.cli.conversation import conversation_id
from reverie.cli.episodes import episode_key, episode_values, store_episodes
from reverie.core.indexing import RankingOptions
from reverie.core.ports import NamespaceSearch
from reverie.ledger import port_for
from reverie.stores.embedded import EmbeddedStore

BEFORE = RankingOptions(
    rrf_k=10,
    keyword_weight=1.0,
    neighbour_weight=0,
    speaker_weight=0,
    episode_weight=0,
    common_word_share=None,
)
# name -> (stored as, search mode, ranking options; None: the store's defaults)
CONFIGS: dict[str, tuple[str, str, RankingOptions | None]] = {
    "turn text, plain fusion (before)": ("turns", "hybrid", BEFORE),
    "episodes, vector only": ("episodes", "vector", None),
    "episodes, keyword only": ("episodes", "keyword", None),
    "episodes, hybrid (default)": ("episodes", "hybrid", None),
}
TEXT = ["content.content"]  # the turn memories: their text, embedded and keyword-indexed
DEPTH = 10  # results read per question for the turn metrics: the default search limit
SESSION_DEPTH = 1000  # read when DEPTH results name fewer than ten sessions
SESSIONS = 10  # sessions the session metrics need ranked


class TableEmbeddings(Embeddings):
    """Serves vectors computed once up front, so every configuration sees identical ones. A
    query text not in the table (a hybrid search embeds a question without the words most
    memories share, ``reverie.retrieval.query_text``) is embedded by ``model`` once and kept."""

    def __init__(self, table: dict[str, list[float]], model: Embeddings | None = None) -> None:
        self.table = table
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        if text not in self.table and self.model is not None:
            self.table[text] = self.model.embed_query(text)
        return self.table[text]


def turn_line(message: Any) -> str:
    return f"{message.name}: {message.content}"


def texts_to_embed(conversations: list[Conversation]) -> list[str]:
    """What the stores embed as documents: turn lines and episode texts."""
    texts: list[str] = []
    for conv in conversations:
        for _, messages, _ in conv.sessions:
            texts += [turn_line(m) for m in messages]
            for value in episode_values(messages).values():
                texts += [value["content"]["content"], value["context"]["for_embedding"]]
    return list(dict.fromkeys(texts))


def questions_of(conversations: list[Conversation]) -> list[str]:
    return list(dict.fromkeys(q.text for conv in conversations for q in conv.questions))


def embed_cached(
    model: Embeddings, texts: list[str], questions: list[str]
) -> tuple[dict[str, list[float]], float]:
    """Vectors of ``texts`` (as documents) and ``questions`` (as queries, the way a search
    embeds them: the local model may use a faster path for single queries), and the seconds
    spent on the documents; kept in the temp folder between runs (derived vectors only,
    outside the repository)."""
    digest = hashlib.sha256(
        "\n".join([repr(model), *texts, "--queries--", *questions]).encode()
    ).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"reverie-locomo-minilm-{digest}.npy"
    seconds = float("nan")
    if cache.exists() and os.environ.get("REVERIE_BENCH_FRESH") != "1":
        matrix = np.load(cache)
    else:
        start = time.perf_counter()
        documents = np.asarray(model.embed_documents(texts), dtype=np.float32)
        seconds = time.perf_counter() - start
        queries = np.asarray([model.embed_query(q) for q in questions], dtype=np.float32)
        matrix = np.concatenate([documents, queries.reshape(-1, documents.shape[1])])
        np.save(cache, matrix)
    vectors = matrix.tolist()
    table = dict(zip(texts, vectors[: len(texts)], strict=True))
    table.update(zip(questions, vectors[len(texts) :], strict=True))
    return table, seconds


def fill(store: BaseStore, conversations: list[Conversation]) -> dict[tuple[str, str], str]:
    """Store both layouts; returns (namespace label, key) -> dia id."""
    keys: dict[tuple[str, str], str] = {}
    for conv in conversations:
        for _, messages, ids in conv.sessions:
            store.batch(
                [
                    PutOp(
                        ("locomo", "turns", conv.sample_id), dia, _memory(turn_line(m)), index=TEXT
                    )
                    for m, dia in zip(messages, ids, strict=True)
                ]
            )
            store_episodes(store, ("locomo", "episodes", conv.sample_id), messages)
            conversation = conversation_id(messages)
            for turn, dia in enumerate(ids):
                keys[("episodes", episode_key(conversation, turn))] = dia
                keys[("turns", dia)] = dia
    return keys


def _memory(text: str) -> dict[str, Any]:
    return {"kind": "Memory", "content": {"content": text}}


# (mode, namespace, query, ranking, limit) -> results, best first
Searcher = Callable[[str, tuple[str, ...], str, RankingOptions | None, int], list[SearchItem]]


def evaluate(
    conversations: list[Conversation],
    keys: dict[tuple[str, str], str],
    search: Searcher,
    modes: tuple[str, ...] = ("vector", "keyword", "hybrid"),
) -> dict[str, dict[str, dict[str, float]]]:
    """config -> "<half>/<evidence>" -> metric -> mean, for the configurations in ``modes``."""
    found: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name, (layout, mode, ranking) in CONFIGS.items():
        if mode not in modes:
            continue
        sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for conv in conversations:
            half = "tuning" if conv.index in TUNING else "held-out"
            namespace = ("locomo", layout, conv.sample_id)
            for question in conv.questions:
                hits = search(mode, namespace, question.text, ranking, DEPTH)
                ranked = [keys[(layout, h.key)] for h in hits]
                deep = ranked
                if len({session_of(d) for d in ranked}) < SESSIONS:
                    more = search(mode, namespace, question.text, ranking, SESSION_DEPTH)
                    deep = [keys[(layout, h.key)] for h in more]
                for kind, evidence in (
                    ("original", question.evidence),
                    ("audited", question.audited),
                ):
                    if kind == "audited" and evidence is None:
                        evidence = question.evidence
                    if not evidence:
                        continue
                    _score(sums[f"{half}/{kind}"], ranked, deep, evidence, question.category)
        found[name] = {part: dict(metrics) for part, metrics in sums.items()}
    return {
        name: {
            part: {m: float(np.mean(v)) for m, v in metrics.items()}
            for part, metrics in parts.items()
        }
        for name, parts in found.items()
    }


def _score(
    into: dict[str, list[float]],
    ranked: list[str],
    deep: list[str],
    evidence: set[str],
    category: int,
) -> None:
    """Turn metrics from ``ranked``; session metrics from ``deep`` (``ranked`` read further
    when it names fewer than ten sessions)."""
    sessions = list(dict.fromkeys(session_of(d) for d in deep))
    wanted = {session_of(d) for d in evidence}
    for k in (5, 10):
        turn = len(evidence & set(ranked[:k])) / len(evidence)
        into[f"R@{k}"].append(turn)
        into[f"session R@{k}"].append(len(wanted & set(sessions[:k])) / len(wanted))
        into[f"R@{k} {CATEGORIES[category]}"].append(turn)


def embedded_searcher(store: EmbeddedStore) -> Searcher:
    def search(
        mode: str,
        namespace: tuple[str, ...],
        query: str,
        ranking: RankingOptions | None,
        limit: int,
    ) -> list[SearchItem]:
        store.search_mode = mode  # type: ignore[assignment]
        (hits,) = store.batch(
            [NamespaceSearch(namespace, query=query, limit=limit, ranking=ranking)]
        )
        return hits  # type: ignore[return-value]

    return search


def postgres_searcher(store: BaseStore) -> Searcher:
    port = port_for(store)

    def search(
        mode: str,
        namespace: tuple[str, ...],
        query: str,
        ranking: RankingOptions | None,
        limit: int,
    ) -> list[SearchItem]:
        (hits,) = port.batch(
            [NamespaceSearch(namespace, query=query, limit=limit, ranking=ranking)]
        )
        return hits  # type: ignore[return-value]

    return search


def run(quick: bool) -> None:
    try:
        model: Embeddings = importlib.import_module("reverie.embeddings").LocalMiniLMEmbeddings()
    except Exception as exc:
        note = f"skipped: local embeddings unavailable ({type(exc).__name__}: {exc})"
        write_results("locomo_retrieval", {"quick": quick, "skipped": note}, note)
        return
    conversations = load(quick)
    texts = texts_to_embed(conversations)
    table, embed_s = embed_cached(model, texts, questions_of(conversations))
    index = {"dims": len(next(iter(table.values()))), "embed": TableEmbeddings(table, model)}
    results: dict[str, Any] = {
        "quick": quick,
        "conversations": len(conversations),
        "turns": sum(c.turns for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "tuning": "conversations 0-4 (defaults chosen here); held out: conversations 5-9",
        "embedding_texts_per_s": len(texts) / embed_s if embed_s == embed_s else None,
        "backends": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="reverie-locomo-"))
    try:
        with EmbeddedStore(workdir / "locomo.db", index=index) as store:  # type: ignore[arg-type]
            keys = fill(store, conversations)
            results["backends"]["embedded"] = evaluate(
                conversations, keys, embedded_searcher(store)
            )
        results["backends"].update(postgres_results(conversations, index))
        results["latency"] = latency(conversations, table, model, workdir, quick)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_results("locomo_retrieval", results, tables(results))


def postgres_results(conversations: list[Conversation], index: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.locomo_postgres import with_postgres  # needs reverie[postgres] and a server

    def job(store: BaseStore) -> Any:
        keys = fill(store, conversations)
        return evaluate(conversations, keys, postgres_searcher(store), modes=("hybrid",))

    return with_postgres(job, index)


def tables(results: dict[str, Any]) -> str:
    metrics = ["R@5", "R@10", "session R@5", "session R@10"] + [
        f"R@10 {c}" for c in CATEGORIES.values()
    ]
    parts = []
    for title, part in (
        ("Held out: conversations 5-9 (original evidence)", "held-out/original"),
        ("Held out: conversations 5-9 (audit-corrected evidence)", "held-out/audited"),
        ("Tuning half: conversations 0-4 (original evidence)", "tuning/original"),
        ("Tuning half: conversations 0-4 (audit-corrected evidence)", "tuning/audited"),
    ):
        rows = []
        for backend, configs in results["backends"].items():
            if not isinstance(configs, dict):
                continue
            for name, parts_of in configs.items():
                if part in parts_of:
                    rows.append(
                        [backend, name] + [parts_of[part].get(m, float("nan")) for m in metrics]
                    )
        parts.append(
            f"**{title}**\n\n" + markdown_table(["store", "configuration", *metrics], rows)
        )
    skipped = {b: v for b, v in results["backends"].items() if not isinstance(v, dict)}
    notes = [
        f"{results['turns']} turns in {results['conversations']} conversations, "
        f"{results['questions']} questions (categories 1-4 with evidence); all-MiniLM-L6-v2.",
        "Defaults tuned on conversations 0-4 only; conversations 5-9 held out.",
    ]
    notes += [f"{b}: {v}" for b, v in skipped.items()]
    lat = results.get("latency") or {}
    if lat:
        rows = [[name, *row] for name, row in lat["rows"].items()]
        parts.append(
            f"**Search latency, {lat['memories']:,} memories in one namespace, "
            f"{lat['queries']} LoCoMo questions (ms)**\n\n"
            + markdown_table(
                [
                    "search",
                    "p50 with query embedding",
                    "p95 with query embedding",
                    "p50 search only",
                    "p95 search only",
                    "p50 search part, with query embedding",
                ],
                rows,
            )
            + f"\n\nEach embedded-store figure is the median of {lat.get('rounds', 1)} passes over "
            "the questions; the PostgreSQL row, one pass. 'Search only' reads each question's "
            "vector from a table; 'search part' is the time besides the embedding in the searches "
            "that embed their question (it runs right after the embedding, with colder CPU "
            "caches)."
            + f"\n\nEmbedding LoCoMo turns (episode texts, batched): {lat['turns_per_s']:.0f} turns/s."
            + (
                "\n\nThe PostgreSQL row searches the same memories and questions on a local server."
                if "PostgreSQL hybrid (default)" in lat["rows"]
                else f"\n\nPostgreSQL: {lat.get('postgres', 'not measured')}."
            )
        )
    return "\n\n".join(parts) + "\n\n" + "\n".join(notes)


__all__ = ["percentiles", "run"]

if __name__ == "__main__":
    from benchmarks.common import quick_mode

    run(quick_mode())
