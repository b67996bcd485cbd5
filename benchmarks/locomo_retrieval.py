"""Retrieval quality on LoCoMo: vector-only vs keyword-only vs hybrid search in EmbeddedStore.

Every dialogue turn of a conversation is stored as one memory in that conversation's namespace
(an image turn as its text plus ``[shares <caption>]``). For each question, the turns cited as
evidence are the relevant items; recall@k is the share of them among the top k results,
averaged over questions. Categories 1-4 are scored (category 5 questions are unanswerable by
design and excluded, as in every published LoCoMo score); per-category figures use LoCoMo's own
numbering (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop).

Embeddings: all-MiniLM-L6-v2 through ``reverie.embeddings.LocalMiniLMEmbeddings``; every text is
embedded once and the three search modes read the same store file.

The data is read from ``$REVERIE_LOCOMO_DIR`` or ``<repo>/../shared/data/locomo`` and never
copied (CC BY-NC 4.0).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig, PutOp

from benchmarks.common import markdown_table, write_results
from reverie.stores.embedded import SEARCH_MODES, EmbeddedStore

REPO = Path(__file__).resolve().parent.parent
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10)


def locomo_dir() -> Path:
    return Path(os.environ.get("REVERIE_LOCOMO_DIR") or REPO.parent / "shared" / "data" / "locomo")


def load_samples(quick: bool) -> list[dict[str, Any]]:
    path = locomo_dir() / "locomo10.json"
    samples: list[dict[str, Any]] = json.loads(path.read_text())
    return samples[:2] if quick else samples


def turns_of(sample: dict[str, Any]) -> list[tuple[str, str]]:
    """(dia_id, text) of every turn, in conversation order."""
    conv = sample["conversation"]
    sessions = sorted((int(k.split("_")[1]), k) for k in conv if re.fullmatch(r"session_\d+", k))
    turns = []
    for _, key in sessions:
        for turn in conv[key]:
            text = f"{turn['speaker']}: {turn['text']}"
            if turn.get("blip_caption"):
                text += f" [shares {turn['blip_caption']}]"
            turns.append((turn["dia_id"], text))
    return turns


def evidence_ids(qa: dict[str, Any], known: set[str]) -> set[str]:
    found = set()
    for entry in qa.get("evidence", []):
        for part in re.split(r"[\s;]+", str(entry)):
            if part in known:
                found.add(part)
    return found


class TableEmbeddings(Embeddings):
    """Serves vectors computed once up front, so every mode sees identical embeddings."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text]


def run(quick: bool) -> None:
    try:
        model: Embeddings = importlib.import_module("reverie.embeddings").LocalMiniLMEmbeddings()
    except Exception as exc:
        note = f"skipped: local embeddings unavailable ({type(exc).__name__}: {exc})"
        write_results("locomo_retrieval", {"quick": quick, "skipped": note}, note)
        return
    samples = load_samples(quick)
    conversations = []
    texts: list[str] = []
    for sample in samples:
        turns = turns_of(sample)
        known = {dia for dia, _ in turns}
        questions = [
            (qa["question"], int(qa["category"]), evidence_ids(qa, known))
            for qa in sample["qa"]
            if int(qa["category"]) in CATEGORIES
        ]
        questions = [q for q in questions if q[2]]
        conversations.append((sample["sample_id"], turns, questions))
        texts += [t for _, t in turns] + [q for q, _, _ in questions]

    unique = list(dict.fromkeys(texts))
    start = time.perf_counter()
    vectors = model.embed_documents(unique)
    embed_s = time.perf_counter() - start
    table = dict(zip(unique, vectors, strict=True))
    index: IndexConfig = {
        "dims": len(vectors[0]),
        "embed": TableEmbeddings(table),
        "fields": ["content.content"],
    }

    workdir = Path(tempfile.mkdtemp(prefix="reverie-locomo-"))
    hits: dict[str, dict[int, list[float]]] = {m: defaultdict(list) for m in SEARCH_MODES}
    latencies: dict[str, list[float]] = defaultdict(list)
    try:
        store = EmbeddedStore(workdir / "locomo.db", index=index)
        for sample_id, turns, _ in conversations:
            store.batch(
                [
                    PutOp(("locomo", sample_id), dia, {"kind": "Memory", "content": {"content": t}})
                    for dia, t in turns
                ]
            )
        for mode in SEARCH_MODES:
            store.search_mode = mode
            for sample_id, _, questions in conversations:
                for question, category, relevant in questions:
                    t0 = time.perf_counter()
                    found = store.search(("locomo", sample_id), query=question, limit=max(KS))
                    latencies[mode].append((time.perf_counter() - t0) * 1000)
                    ranked = [i.key for i in found if i.score is not None]
                    for k in KS:
                        got = len(relevant & set(ranked[:k])) / len(relevant)
                        hits[mode][k * 10 + category].append(got)
                        hits[mode][k * 10].append(got)
        store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    results: dict[str, Any] = {
        "quick": quick,
        "conversations": len(conversations),
        "memories": sum(len(t) for _, t, _ in conversations),
        "questions": sum(len(q) for _, _, q in conversations),
        "embedding_s": embed_s,
        "modes": {},
    }
    rows = []
    for mode in SEARCH_MODES:
        entry = {f"recall@{k}": float(np.mean(hits[mode][k * 10])) for k in KS} | {
            f"recall@{k} {name}": float(np.mean(hits[mode][k * 10 + c]))
            for k in KS
            for c, name in CATEGORIES.items()
            if hits[mode][k * 10 + c]
        }
        entry["search_p50_ms"] = float(np.percentile(latencies[mode], 50))
        results["modes"][mode] = entry
        rows.append(
            [mode, entry["recall@5"], entry["recall@10"]]
            + [entry.get(f"recall@10 {name}", float("nan")) for name in CATEGORIES.values()]
            + [entry["search_p50_ms"]]
        )
    head = ["mode", "recall@5", "recall@10"] + [f"R@10 {n}" for n in CATEGORIES.values()]
    table_md = markdown_table(head + ["search p50 ms"], rows)
    table_md += (
        f"\n\n{results['memories']} turns in {results['conversations']} conversations, "
        f"{results['questions']} questions (categories 1-4 with evidence); all-MiniLM-L6-v2."
    )
    write_results("locomo_retrieval", results, table_md)


if __name__ == "__main__":
    from benchmarks.common import quick_mode

    run(quick_mode())
