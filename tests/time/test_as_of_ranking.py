"""An ``as_of`` search against a store holding exactly the versions true at that moment.

docs/time.md said the embedded store ranks an ``as_of`` search "in one pool, as if the namespace
held exactly the versions true then (results in that order)". Here one store lives through a
history (inserts, updates of the same key with new text, deletes, then a flood of memories full
of the query's words, which would change word statistics if they leaked into the past); at
several instants ``t``, ``search(..., as_of=t)`` on it is compared with the same search of a
fresh store (same index config, same search mode or ranking) holding exactly the versions true
at ``t``: keys, values and scores (within 1e-6) in order, whole listings and pages, with and
without a filter.

Asserted, because it holds on both backends: ranking by vector alone, with index ``fields``
that pick the memory's own text or ``["$"]`` (Reverie's default: a closed version is indexed
with the texts its memory was, ``reverie.ledger.timeline``). Pinned by strict xfails, each
saying why (``raises=AssertionError``: the comparison's, never a precondition's): hybrid and
keyword ranking, whose word statistics (BM25 counts and lengths, the common words left out of
the query's vector) span every version kept, true then or not, and whose fused ranks are taken
before versions not true then are left out.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore, IndexConfig, PutOp, SearchItem
from pydantic import BaseModel

from reverie import MemoryStoreManager, RankingOptions, create_memory_store_manager
from reverie.retrieval.terms import terms
from reverie.testing import HashingEmbeddings, ScriptedChatModel, hashing_index

Backend = Literal["embedded", "postgres"]
Mode = Literal["hybrid", "vector", "keyword"]
Ranked = list[tuple[str, str, float | None]]  # (key, value as JSON, score), best first

NS = ("memories", "ana")
QUERY = "hiking trips to the mountains"
OUTDOORS: dict[str, Any] = {"content": {"topic": "outdoors"}}
DIMS = 256  # the hashing embedder's width: few bucket collisions among the test's words


def month(m: int, day: int = 1) -> datetime:
    return datetime(2024, m, day, tzinfo=timezone.utc)


# Each instant lies between changes, or exactly on one (a version is true from its start,
# inclusive, to its end, exclusive). The last one follows every change: the latest versions.
PROBES = [month(2, 15), month(3), month(4, 10), month(5), month(6, 20), month(8, 5), month(10, 9)]
LATEST = month(12, 31)
# Pages compared at each instant: (limit, offset); 200 lists every memory true then.
PAGES = [(200, 0), (5, 0), (4, 3)]


class Note(BaseModel):
    content: str
    topic: str


Step = tuple[datetime, str, Note | None]  # (when, key, new version or None: deleted)


class Versions:
    """Writes new versions whose texts name the query's words as often as asked, padded with
    filler words of their own: as many as it takes for the version's cosine to the query and
    its keyword shape (term counts and length) to differ from every version's before it. So no
    two memories tie at any instant, and nothing compared depends on how a store orders equal
    scores (the fresh stores insert in another order than the history did)."""

    def __init__(self) -> None:
        self.embeddings = HashingEmbeddings(DIMS)
        self.query = self.embeddings.embed_query(QUERY)
        self.cosines: list[float] = []
        self.shapes: set[tuple[int, ...]] = set()
        self.serial = 0

    def note(self, hiking: int, trips: int, mountains: int) -> Note:
        assert hiking + trips + mountains > 0, "every memory shares a word with the query"
        self.serial += 1
        query_words = ["hiking"] * hiking + ["trips"] * trips + ["mountains"] * mountains
        for fillers in range(1, 200):
            words = query_words + [f"v{self.serial}f{j}" for j in range(fillers)]
            if len(words) % 7 == 0:
                continue
            # Interleaved (7 is prime to the length), so texts do not all start alike.
            text = "Ana " + " ".join(words[(i * 7) % len(words)] for i in range(len(words)))
            version = Note(content=text, topic="outdoors" if self.serial % 3 else "indoors")
            shape = (hiking, trips, mountains, len(terms(text)))
            # Embedded as its text (fields ["content.content"]) or as the whole stored value
            # (fields ["$"]: the JSON's words too, in whatever order, to this embedder).
            whole = f"{text} content content topic {version.topic} kind Note"
            cosines = [self.cosine(text), self.cosine(whole)]
            if shape in self.shapes or any(
                abs(cosine - c) < 1e-4 for cosine in cosines for c in self.cosines
            ):
                continue
            self.shapes.add(shape)
            self.cosines += cosines
            return version
        raise AssertionError("no filler count gives this version a score of its own")

    def cosine(self, text: str) -> float:
        vector = self.embeddings.embed_query(text)
        return sum(a * b for a, b in zip(self.query, vector, strict=True))


def history() -> list[Step]:
    """Fewer than 50 memories are true at any one time (below it hybrid search embeds the
    query whole, ``reverie.retrieval.query_text.MIN_MEMORIES``), 73 versions in all, most of
    them about hiking, more and more so as time goes on."""
    steps: list[Step] = []
    versions = Versions()

    def write(when: datetime, key: str, hiking: int, trips: int, mountains: int) -> None:
        steps.append((when, key, versions.note(hiking, trips, mountains)))

    for i in range(20):  # January: the first memories, few about hiking
        hiking, trips = int(i % 5 == 0), i % 3
        write(month(1), f"k{i:02d}", hiking, trips, int(i % 2 == 0 or hiking + trips == 0))
    for i in range(8):  # March: new text for the same keys
        write(month(3), f"k{i:02d}", 1 + i % 2, i % 3, 1 + i % 4)
    for i in (*range(8, 12), 0, 1):  # May: deletes (k00 and k01 in their second version)
        steps.append((month(5), f"k{i:02d}", None))
    for i in range(20, 50):  # July: thirty memories full of the query's words
        write(month(7), f"k{i:02d}", 1 + i % 3, int(i % 4 == 0), 1 + i % 4)
    for i in range(12, 18):  # September: updates about hiking, and some deletes
        write(month(9), f"k{i:02d}", 2 + i % 2, int(i % 3 == 0), 1 + i % 3)
    for i in range(20, 30):
        steps.append((month(9), f"k{i:02d}", None))
    for i in range(2, 6):  # November: a third version of some keys, and a few new memories
        write(month(11), f"k{i:02d}", 1 + i % 3, int(i % 2 == 0), 1)
    for i in range(50, 55):
        write(month(11), f"k{i:02d}", 1, 1 + i % 2, 2)
    return steps


def versions_at(steps: list[Step], moment: datetime) -> dict[str, Note]:
    """The version of each memory true at ``moment``, in first-insertion order."""
    current: dict[str, Note] = {}
    for when, key, version in steps:
        if when > moment:
            continue
        if version is None:
            current.pop(key, None)
        else:
            current[key] = version
    return current


def manager_on(store: BaseStore, namespace: tuple[str, ...] = NS) -> MemoryStoreManager:
    def silent(_: Any) -> Any:
        raise AssertionError("the model is never asked in this test")

    return create_memory_store_manager(
        ScriptedChatModel(responder=silent),
        schemas=[Note],
        namespace=namespace,
        store=store,
        enable_deletes=True,
    )


def at(moment: datetime) -> RunnableConfig:
    return {"configurable": {"reference_time": moment}}


@contextlib.contextmanager
def opened(backend: Backend, mode: Mode, index: IndexConfig, folder: Path) -> Iterator[BaseStore]:
    """A fresh, empty store of ``backend`` ranking by ``mode``."""
    folder.mkdir(parents=True, exist_ok=True)
    if backend == "embedded":
        from reverie.stores.embedded import EmbeddedStore

        with EmbeddedStore(folder / "memories.db", index=index, search_mode=mode) as store:
            yield store
        return
    from reverie.stores.postgres import open_postgres_store
    from tests.postgres.support import fresh_database

    # PostgreSQL has no search modes; vector alone is the ranking that weighs nothing else.
    if mode == "keyword":
        raise ValueError("PostgreSQL ranks by vector or hybrid, not by keywords alone")
    ranking = RankingOptions.vector_only() if mode == "vector" else None
    with fresh_database() as url, open_postgres_store(url, index=index, ranking=ranking) as pg:
        yield pg


def ranked(items: list[SearchItem]) -> Ranked:
    return [(i.key, json.dumps(i.value, sort_keys=True), i.score) for i in items]


def search(
    manager: MemoryStoreManager,
    page: tuple[int, int],
    filter: dict[str, Any] | None,
    as_of: datetime | None = None,
) -> Ranked:
    limit, offset = page
    found = manager.search(query=QUERY, filter=filter, limit=limit, offset=offset, as_of=as_of)
    return ranked(found)


def differences(got: Ranked, want: Ranked) -> list[str]:
    """Where ``got`` differs from ``want``: keys and values in order, scores within 1e-6
    (relative, for BM25 scores above 1)."""
    found = []
    if len(got) != len(want):
        found.append(f"{len(got)} results, expected {len(want)}")
    for place, (g, w) in enumerate(zip(got, want, strict=False)):
        same_score = (g[2] is None) == (w[2] is None) and (
            g[2] is None or w[2] is None or abs(g[2] - w[2]) <= 1e-6 * max(1.0, abs(w[2]))
        )
        if g[:2] != w[:2] or not same_score:
            found.append(f"#{place}: got {g[0]} {g[2]!r} ({g[1]!r}), expected {w[0]} {w[2]!r}")
    return found


def assert_no_ties(listing: Ranked, mode: Mode, where: str) -> None:
    """The reference ranks every memory by a score of its own, so nothing in the comparison
    depends on how a store orders equal scores (insertion order differs between the two)."""
    values = [s for _, _, s in listing if s is not None]
    if len(values) < len(listing):
        pytest.fail(f"{where}: a memory without a score in the reference")
    if mode == "hybrid":  # scores are cosines; the order is fused from cosine and BM25 ranks
        values.sort(reverse=True)
    if any(abs(a - b) <= 1e-6 for a, b in zip(values, values[1:], strict=False)):
        pytest.fail(f"{where}: tied scores in the reference, the data needs changing: {values}")


@dataclass(frozen=True)
class Case:
    backend: Backend
    mode: Mode
    fields: list[str] | None  # None: the index config's default, ["$"] (the whole value)
    fails_because: str | None = None

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.mode}-{'whole-value' if self.fields is None else 'content'}"

    def param(self) -> Any:
        marks = []
        if self.backend == "postgres":
            marks.append(pytest.mark.postgres)
        if self.fails_because:
            marks.append(
                pytest.mark.xfail(reason=self.fails_because, raises=AssertionError, strict=True)
            )
        return pytest.param(self, id=self.id, marks=marks)


CONTENT = ["content.content"]
WORD_STATISTICS = (
    "the embedded store's one pool takes word statistics over every version kept, true then or "
    "not: BM25 counts and lengths per namespace (the current memories, later ones included; all "
    "closed versions) and the common words left out of the query's vector (common_word_share), "
    "and fuses ranks (RRF) before the versions not true then are left out"
)
MERGED = (
    "PostgreSQL ranks the current memories and the closed versions apart, each by its own BM25 "
    "statistics and both with the common words of all versions left out of the query's vector, "
    "then merges the two pages by cosine (docs/time.md: other stores merge by score)"
)
CASES = [
    Case("embedded", "vector", CONTENT),
    Case("postgres", "vector", CONTENT),
    Case("embedded", "hybrid", CONTENT, WORD_STATISTICS),
    Case("embedded", "keyword", CONTENT, WORD_STATISTICS),
    Case("postgres", "hybrid", CONTENT, MERGED),
    Case("embedded", "vector", None),
    Case("postgres", "vector", None),
]


def live_through(manager: MemoryStoreManager, steps: list[Step]) -> None:
    for when, key, version in steps:
        if version is None:
            manager.delete(key, config=at(when))
        else:
            manager.put(key, version, config=at(when))


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_as_of_ranks_as_a_store_holding_the_versions_true_then(case: Case, tmp_path: Path) -> None:
    index = hashing_index(DIMS, case.fields)
    steps = history()
    wants: dict[datetime, dict[tuple[tuple[int, int], bool], Ranked]] = {}
    # The references: for each instant, a namespace of its own in a fresh store, holding
    # exactly the versions true then, as the manager stores memories (nothing else: no time
    # records, no closed versions). Nothing ranks across namespaces, so each is searched as a
    # fresh store holding only it would be; one store keeps PostgreSQL's test fast.
    with opened(case.backend, case.mode, index, tmp_path / "then") as fresh:
        for n, moment in enumerate([*PROBES, LATEST]):
            namespace = ("memories", f"ana-then-{n}")
            fresh.batch(
                [
                    PutOp(namespace, key, {"kind": "Note", "content": version.model_dump()})
                    for key, version in versions_at(steps, moment).items()
                ]
            )
            manager = manager_on(fresh, namespace)
            wants[moment] = {
                (page, filtered): search(manager, page, OUTDOORS if filtered else None)
                for page in PAGES
                for filtered in (False, True)
            }
            # The test's own preconditions fail with pytest.fail, never an AssertionError, so
            # an expected failure (xfail, raises=AssertionError) is always the comparison's.
            full = wants[moment][(PAGES[0], False)]
            if len(full) != len(versions_at(steps, moment)):
                pytest.fail(f"{moment:%Y-%m-%d}: the reference lists {len(full)} memories")
            assert_no_ties(full, case.mode, f"{moment:%Y-%m-%d}")
    # Teeth: at every earlier instant the versions true then rank otherwise than the latest,
    # so an as_of search that leaked later versions could not pass.
    for moment in PROBES:
        if wants[moment][(PAGES[0], False)] == wants[LATEST][(PAGES[0], False)]:
            pytest.fail(f"{moment:%Y-%m-%d} ranks as the latest versions do")

    with opened(case.backend, case.mode, index, tmp_path / "history") as store:
        manager = manager_on(store)
        live_through(manager, steps)
        found: list[str] = []
        for moment in [*PROBES, LATEST]:
            for (page, filtered), want in wants[moment].items():
                got = search(manager, page, OUTDOORS if filtered else None, as_of=moment)
                for line in differences(got, want):
                    found.append(
                        f"as_of {moment:%Y-%m-%d}, limit {page[0]} offset {page[1]}"
                        f"{', filtered' if filtered else ''}: {line}"
                    )
    assert not found, f"{len(found)} differences:\n" + "\n".join(found[:40])


NOW_CASES = [
    Case("embedded", "vector", CONTENT),
    Case("embedded", "keyword", CONTENT),
    Case("postgres", "vector", CONTENT),
    Case("embedded", "hybrid", CONTENT, WORD_STATISTICS),
    Case("postgres", "hybrid", CONTENT, MERGED),
]


@pytest.mark.parametrize("case", [c.param() for c in NOW_CASES])
def test_as_of_after_every_change_is_the_current_search(case: Case, tmp_path: Path) -> None:
    """The versions true after the last change are the current memories: an ``as_of`` search
    then is the plain search of the same store, without a second store to compare with."""
    with opened(case.backend, case.mode, hashing_index(DIMS, case.fields), tmp_path) as store:
        manager = manager_on(store)
        live_through(manager, history())
        found: list[str] = []
        for page in PAGES:
            for filter in (None, OUTDOORS):
                now = search(manager, page, filter)
                for line in differences(search(manager, page, filter, as_of=LATEST), now):
                    found.append(f"limit {page[0]} offset {page[1]}, filter {filter}: {line}")
    assert not found, f"{len(found)} differences:\n" + "\n".join(found[:40])


@pytest.mark.parametrize(
    "backend",
    [pytest.param("embedded"), pytest.param("postgres", marks=pytest.mark.postgres)],
)
@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(CONTENT, id="content"),
        pytest.param(None, id="whole-value"),
    ],
)
def test_a_closed_version_scores_as_the_memory_it_was(
    backend: Backend, fields: list[str] | None, tmp_path: Path
) -> None:
    """docs/time.md's example, smallest: the one memory true in March, found then, scores as it
    does in a store holding only it (hybrid, the default ranking)."""
    index = hashing_index(DIMS, fields)
    lisbon = Note(content="Ana lives in Lisbon", topic="home")
    with opened(backend, "hybrid", index, tmp_path / "history") as store:
        manager = manager_on(store)
        manager.put("home", lisbon, config=at(month(1, 10)))
        manager.put(
            "home", Note(content="Ana lives in Porto", topic="home"), config=at(month(5, 2))
        )
        then = ranked(manager.search(query="where does Ana live", as_of=month(3)))
    with opened(backend, "hybrid", index, tmp_path / "fresh") as fresh:
        manager = manager_on(fresh)
        manager.put("home", lisbon, config=at(month(1, 10)))
        alone = ranked(manager.search(query="where does Ana live"))
    assert differences(then, alone) == []
