"""Behaviour only the embedded SQLite store has: persistence, keyword relevance, several
processes on one file, locking, refusing foreign files, schema migrations, crash atomicity."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig, PutOp

from reverie.core.errors import (
    ConfigurationError,
    NotAReverieStoreError,
    SchemaVersionError,
    StoreLockedError,
)
from reverie.stores import open_store
from reverie.stores.embedded import EmbeddedStore, SearchMode, schema, vectors
from reverie.testing import hashing_index

SPAWN = multiprocessing.get_context("spawn")


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=hashing_index()) as store:
        store.put(("u", "1"), "a", {"text": "my sister lives in Lisbon"})
        store.put(("u", "1"), "b", {"text": "allergic to peanuts"})
        store.put(("u", "2"), "c", {"text": "plays chess on sundays"})
        store.delete(("u", "1"), "b")
        written = store.get(("u", "1"), "a")
        assert written is not None
        created = written.created_at
    with open_store(path, index=hashing_index()) as store:
        item = store.get(("u", "1"), "a")
        assert item is not None and item.value == {"text": "my sister lives in Lisbon"}
        assert item.created_at == created
        assert store.get(("u", "1"), "b") is None
        assert store.list_namespaces() == [("u", "1"), ("u", "2")]
        assert store.search(("u",), query="chess sundays", limit=1)[0].key == "c"


def test_overwrite_keeps_created_at(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=hashing_index()) as store:
        store.put(("u",), "a", {"text": "v1"})
        first = store.get(("u",), "a")
        store.put(("u",), "a", {"text": "v2"})
        second = store.get(("u",), "a")
    assert first is not None and second is not None
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at


DOGS = [
    "our dog loves the beach and chasing the ball",
    "the neighbour's dog barks at the mailman",
    "took the puppy to the vet for shots",
    "Fido needs his flea medicine on monday",
    "the dog park was crowded today",
    "bought a new leash and collar for the dog",
]


def _dog_store(path: Path, mode: SearchMode) -> EmbeddedStore:
    # 8 dimensions: the hashing embedder blurs rare words the way small models blur names.
    store = EmbeddedStore(path, index=hashing_index(dims=8), search_mode=mode)
    if not store.search(("pets",), limit=1):
        for i, text in enumerate(DOGS):
            store.put(("pets",), str(i), {"text": text})
    return store


def test_keyword_relevance_finds_rare_name(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with _dog_store(path, "vector") as store:
        vector_rank = [i.key for i in store.search(("pets",), query="what about Fido?")].index("3")
    with _dog_store(path, "hybrid") as store:
        hybrid = store.search(("pets",), query="what about Fido?")
    with _dog_store(path, "keyword") as store:
        keyword = store.search(("pets",), query="what about Fido?")
    assert vector_rank > 0, "the blurred vectors alone do not put Fido first"
    assert hybrid[0].key == "3" and keyword[0].key == "3"
    assert all(i.score is not None for i in hybrid)


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "a AND OR NOT b", "NEAR(x y)", "col:umn", "star*", "(paren", "'; DROP", "-"],
)
def test_queries_with_syntax_characters_never_fail(tmp_path: Path, query: str) -> None:
    with _dog_store(tmp_path / "m.db", "hybrid") as store:
        assert len(store.search(("pets",), query=query, limit=3)) == 3


def _write_many(path: str, worker: int, count: int) -> None:
    with EmbeddedStore(path, index=hashing_index(), busy_timeout=30) as store:
        for start in range(0, count, 10):
            store.batch(
                [
                    PutOp(("shared",), f"w{worker}-{i}", {"text": f"worker {worker} note {i}"})
                    for i in range(start, start + 10)
                ]
            )


def test_two_processes_write_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=hashing_index()) as store:
        store.search(("shared",), query="note")  # warm this process's vector cache
        workers = [SPAWN.Process(target=_write_many, args=(str(path), w, 200)) for w in (1, 2)]
        for p in workers:
            p.start()
        for p in workers:
            p.join(60)
            assert p.exitcode == 0
        # This process sees the other processes' writes, in listings and in vector search.
        assert len(store.search(("shared",), limit=1000)) == 400
        hits = store.search(("shared",), query="worker 2 note 117", limit=1000)
        assert len(hits) == 400 and hits[0].key == "w2-117"
    assert integrity(path) == "ok"


def test_locked_database_raises_store_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=hashing_index(), busy_timeout=0.05) as store:
        store.put(("u",), "kept", {"text": "already stored"})
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreLockedError, match="busy_timeout"):
                store.put(("u",), "new", {"text": "cannot be written now"})
            assert store.get(("u",), "kept") is not None, "reads still work while locked"
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.put(("u",), "new", {"text": "written once the lock is gone"})
        assert store.get(("u",), "new") is not None


def test_refuses_files_that_are_not_reverie_stores(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n" * 10)
    with pytest.raises(NotAReverieStoreError, match="not a SQLite database"):
        EmbeddedStore(text)
    assert text.read_text() == "just some notes\n" * 10

    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(NotAReverieStoreError, match="another program"):
        EmbeddedStore(foreign)
    assert foreign.read_bytes() == before

    with pytest.raises(NotAReverieStoreError, match="directory"):
        EmbeddedStore(tmp_path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path) as store:
        store.put(("u",), "a", {"x": 1})
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO reverie_schema VALUES (99, 'from the future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match="version 99"):
        EmbeddedStore(path)


def _add_tags_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE items ADD COLUMN tags TEXT")


def _broken_step(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE items ADD COLUMN half_done TEXT")
    raise RuntimeError("step failed")


def test_migrations_apply_in_order_and_atomically(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    # A fake "v0 -> v1" step on an empty file creates the layout.
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.ensure_schema(conn, str(path), schema.MIGRATIONS) == 1
    assert schema.schema_version(conn) == 1
    conn.close()
    with EmbeddedStore(path) as store:
        store.put(("u",), "a", {"x": 1})

    conn = sqlite3.connect(path, isolation_level=None)
    broken = (*schema.MIGRATIONS, schema.Migration(2, "broken", _broken_step))
    with pytest.raises(RuntimeError):
        schema.ensure_schema(conn, str(path), broken)
    assert schema.schema_version(conn) == 1
    columns = [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    assert "half_done" not in columns, "a failed step leaves the file as it was"

    upgraded = (*schema.MIGRATIONS, schema.Migration(2, "tags", _add_tags_column))
    assert schema.ensure_schema(conn, str(path), upgraded) == 2
    assert "tags" in [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1
    conn.close()
    with pytest.raises(SchemaVersionError):
        EmbeddedStore(path)


def test_dims_mismatch_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=hashing_index(dims=16)) as store:
        store.put(("u",), "a", {"text": "hello"})
    with pytest.raises(ConfigurationError, match="16-dimensional"):
        EmbeddedStore(path, index=hashing_index(dims=32))


class _KillDuringWrite:
    """Connection proxy that SIGKILLs its own process inside the write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def executemany(self, sql: str, rows: Any) -> Any:
        result = self._conn.executemany(sql, rows)
        if sql.startswith("INSERT INTO vectors"):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _crash_mid_batch(path: str) -> None:
    store = EmbeddedStore(path, index=hashing_index())
    # A proxy standing in for the connection on purpose: the fault injection.
    store._db.conn = _KillDuringWrite(store._db.conn)  # type: ignore[assignment]
    big = "x" * 2000  # large rows spill uncommitted pages into the WAL before the kill
    store.batch(
        [PutOp(("crash",), f"k{i}", {"text": f"row {i} {big}"}) for i in range(3000)]
        + [PutOp(("keep",), "0", {"text": "overwritten by the crashing batch"})]
    )


def test_killed_writer_leaves_all_or_none_of_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=hashing_index()) as store:
        store.batch([PutOp(("keep",), str(i), {"text": f"kept {i}"}) for i in range(20)])
    child = SPAWN.Process(target=_crash_mid_batch, args=(str(path),))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    assert integrity(path) == "ok"
    with EmbeddedStore(path, index=hashing_index()) as store:
        assert store.search(("crash",), limit=10) == []
        kept = store.search(("keep",), limit=100)
        assert len(kept) == 20 and kept[0].value == {"text": "kept 0"}
        assert store.search(("keep",), query="kept 7", limit=1)[0].key == "7"
        store.put(("crash",), "after", {"text": "the file is still writable"})
        assert store.get(("crash",), "after") is not None
    assert integrity(path) == "ok"


def test_ttl_expiry_and_refresh(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=hashing_index()) as store:
        store.put(("u",), "short", {"text": "gone soon"}, ttl=0.0001)  # 6 ms
        store.put(("u",), "long", {"text": "stays"}, ttl=60)
        store.put(("u",), "forever", {"text": "no ttl"})
        import time

        time.sleep(0.05)
        assert store.get(("u",), "short") is None
        assert {i.key for i in store.search(("u",), query="gone soon")} == {"long", "forever"}
        assert store.sweep_ttl() == 1
        assert store.get(("u",), "long") is not None


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "m.db")
    store.close()
    store.close()  # idempotent
    from reverie.core.errors import StoreError

    with pytest.raises(StoreError, match="closed"):
        store.get(("u",), "a")


def test_open_store_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVERIE_STORE", str(tmp_path / "env" / "m.db"))
    with open_store(index=hashing_index()) as store:
        assert isinstance(store, EmbeddedStore)
        assert store.path == tmp_path / "env" / "m.db"
    monkeypatch.delenv("REVERIE_STORE")
    monkeypatch.chdir(tmp_path)
    with open_store(index=hashing_index()) as store:
        assert isinstance(store, EmbeddedStore)
        assert store.path == Path(".reverie") / "memories.db"
    assert (tmp_path / ".reverie" / "memories.db").exists()
    with pytest.raises(ConfigurationError, match="Unsupported store URL"):
        open_store("mysql://x", index=hashing_index())


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_own_writes_after_caching_match_a_fresh_reader(tmp_path: Path, mode: SearchMode) -> None:
    """Searches patch the cached index in place after writes; results equal a cold reopen."""
    path = tmp_path / "m.db"
    queries = ["zebra crossing", "dog walks", "piano thursday", "quokka"]
    with EmbeddedStore(path, index=hashing_index(), search_mode=mode) as store:
        for i, text in enumerate(DOGS):
            store.put(("pets",), str(i), {"text": text})
        store.search(("pets",), query="dog")  # builds the cached vectors and keyword index
        store.put(("pets",), "new", {"text": "a zebra crossing near the dog park"})
        store.put(("pets",), "1", {"text": "piano lessons on thursday, no dog any more"})
        store.delete(("pets",), "2")
        store.put(("pets",), "quiet", {"text": "quokka"}, index=False)
        warm = {q: [(i.key, i.score) for i in store.search(("pets",), query=q)] for q in queries}
    with EmbeddedStore(path, index=hashing_index(), search_mode=mode) as store:
        cold = {q: [(i.key, i.score) for i in store.search(("pets",), query=q)] for q in queries}
    assert warm.keys() == cold.keys()
    for q in queries:
        assert [k for k, _ in warm[q]] == [k for k, _ in cold[q]], q
        warm_scores = [s if s is not None else -1.0 for _, s in warm[q]]
        cold_scores = [s if s is not None else -1.0 for _, s in cold[q]]
        assert warm_scores == pytest.approx(cold_scores, abs=1e-5), q
    assert warm["zebra crossing"][0][0] == "new"
    assert "2" not in [k for k, _ in warm["dog walks"]]


def test_open_store_defaults_to_offline_embeddings(tmp_path: Path) -> None:
    with open_store(tmp_path / "m.db") as store:
        assert isinstance(store, EmbeddedStore)
        assert store.index_config is not None and store.index_config["dims"] == 384


class _VectorTable(Embeddings):
    """Text ``"v<i>"`` embeds to row ``i`` of a fixed random matrix (queries too)."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def _one(self, text: str) -> list[float]:
        return [float(x) for x in self.rows[int(text.split()[0][1:])]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_narrowed_search_of_a_large_namespace_equals_a_full_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: SearchMode
) -> None:
    """Large namespaces narrow candidates with int8 codes; pages, scores and selective filters
    come out exactly as from a full float32 scan."""
    rng = np.random.default_rng(11)
    n = 3_000
    rows = rng.standard_normal((n + 20, 48)).astype(np.float32)
    index: IndexConfig = {"dims": 48, "embed": _VectorTable(rows), "fields": ["text"]}
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=index, search_mode=mode) as store:
        store.batch(
            [
                PutOp(("big",), f"k{i}", {"text": f"v{i} word{i % 7}", "rare": i % 997 == 5})
                for i in range(n)
            ]
        )

    def results(narrow_from: int) -> list[list[tuple[str, float | None]]]:
        monkeypatch.setattr(vectors, "QUANTIZED_MIN_ROWS", narrow_from)
        with EmbeddedStore(path, index=index, search_mode=mode) as store:
            found = []
            for q in range(n, n + 20):
                kwargs: dict[str, Any]
                for kwargs in (
                    {"limit": 10},
                    {"limit": 5, "offset": 7},
                    {"filter": {"rare": True}},
                ):
                    hits = store.search(("big",), query=f"v{q} word3", **kwargs)
                    found.append([(h.key, h.score) for h in hits])
            narrowed = store._cache._entries  # noqa: SLF001
            assert all(
                (e.vectors.quantized is not None) == (narrow_from < n) for e in narrowed.values()
            )
            return found

    narrowed, full = results(500), results(10**9)
    assert [[k for k, _ in page] for page in narrowed] == [[k for k, _ in page] for page in full]
    for a, b in zip(narrowed, full, strict=True):
        assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=1e-6)
    assert all(len(page) == 4 for page in narrowed[2::3])  # every rare item, though none ranks
