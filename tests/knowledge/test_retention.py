"""A store's ``default_ttl`` (its retention policy) applies to what Reverie writes for a user, as
it does to ``store.put``: the memories of a manager run, of the manager's ``put``, of the memory
tools, and the audit trail and timeline kept about them. An explicit ``ttl=None`` still never
expires; thread progress and usage accounting keep no TTL."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore, TTLConfig

from reverie import create_memory_store_manager
from reverie.cli.conversation import Message
from reverie.cli.episodes import store_episodes
from reverie.ledger.history import history_namespace
from reverie.ledger.timeline import past_namespace, time_namespace
from reverie.stores import EmbeddedStore
from reverie.stores.postgres import open_postgres_store
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from reverie.testing.scripted import Reply
from reverie.tools import create_manage_memory_tool
from tests.helpers import alias_of, new_conversation

NS = ("memories", "alice")
CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice", "thread_id": "t1"}}
RETENTION: TTLConfig = {"default_ttl": 60}
# The namespaces holding a memory and what Reverie keeps about it, as stored paths.
MEMORY_PATHS = {
    ".".join(ns) for ns in (NS, history_namespace(NS), time_namespace(NS), past_namespace(NS))
}

# (namespace path, key) -> ttl_minutes, or (with ``expiry=True``) expires_at in epoch seconds
Ttls = dict[tuple[str, str], float | None]
TtlReader = Callable[..., Ttls]


def _embedded_ttls(path: Path, expiry: bool = False) -> Ttls:
    column = "i.expires_at" if expiry else "i.ttl_minutes"
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            f"SELECT n.path, i.key, {column} FROM items i JOIN namespaces n ON n.id = i.ns_id"
        ).fetchall()
    finally:
        conn.close()
    return {(prefix, key): ttl for prefix, key, ttl in rows}


def _postgres_ttls(url: str, expiry: bool = False) -> Ttls:
    column = "extract(epoch FROM expires_at)" if expiry else "ttl_minutes"
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT prefix, key, {column} FROM store").fetchall()
    return {(prefix, key): None if ttl is None else float(ttl) for prefix, key, ttl in rows}


@contextlib.contextmanager
def store_with(
    kind: str, tmp_path: Path, ttl: TTLConfig | None
) -> Iterator[tuple[BaseStore, TtlReader]]:
    """A fresh store of ``kind`` with TTL config ``ttl``, and a reader of every row's TTL (or,
    with ``expiry=True``, of when it expires)."""
    if kind == "embedded":
        path = tmp_path / "m.db"
        with EmbeddedStore(path, index=hashing_index(), ttl=ttl) as store:
            yield store, functools.partial(_embedded_ttls, path)
        return
    from tests.postgres.support import fresh_database

    with (
        fresh_database() as url,
        open_postgres_store(url, index=hashing_index(), ttl=ttl) as pg_store,
    ):
        yield pg_store, functools.partial(_postgres_ttls, url)


def _city_keeper(request: ScriptedRequest) -> Reply:
    """Keeps one memory about where the user lives; forgets it when told to."""
    text = new_conversation(request)
    if "forget where I live" in text:
        return tool_call("forget", {"ids": [alias_of(request, "lives in")]})
    if "moved to" in text:
        return tool_call(
            "Memory", {"content": "User lives in Paris", "memory_id": alias_of(request, "lives in")}
        )
    if "I live in" in text:
        return tool_call("Memory", {"content": "User lives in Lyon"})
    return AIMessage(content="")


def _converse(store: BaseStore, *turns: str) -> None:
    model = ScriptedChatModel(responder=_city_keeper)
    manager = create_memory_store_manager(model, store=store, enable_deletes=True)
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        manager.invoke({"messages": list(messages)}, CONFIG)


def _split(ttls: Ttls) -> tuple[Ttls, Ttls]:
    """(rows of the memories and their records, every other row)."""
    about = {k: v for k, v in ttls.items() if k[0] in MEMORY_PATHS}
    return about, {k: v for k, v in ttls.items() if k not in about}


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_a_manager_run_gives_memories_and_their_records_the_default_ttl(
    kind: str, tmp_path: Path
) -> None:
    with store_with(kind, tmp_path, RETENTION) as (store, ttls):
        _converse(store, "I live in Lyon.", "I moved to Paris.")
        about, other = _split(ttls())
        # The memory, its insert and update records, its time record and its closed version.
        assert {prefix for prefix, _ in about} == MEMORY_PATHS
        assert set(about.values()) == {60}
        # Thread progress and usage accounting are bookkeeping, not what was remembered.
        assert other and set(other.values()) == {None}

        _converse(store, "I live in Lyon.", "I moved to Paris.", "Please forget where I live.")
        about, _ = _split(ttls())
        assert not [k for k in about if k[0] == ".".join(NS)]  # deleted
        # What is kept about the deleted memory (its delete record, every closed version)
        # still expires under the store's policy.
        assert about and set(about.values()) == {60}


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_without_a_default_ttl_nothing_a_run_writes_expires(kind: str, tmp_path: Path) -> None:
    with store_with(kind, tmp_path, None) as (store, ttls):
        _converse(store, "I live in Lyon.", "I moved to Paris.")
        about, other = _split(ttls())
        assert {prefix for prefix, _ in about} == MEMORY_PATHS
        assert set(about.values()) == {None} and set(other.values()) == {None}


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_the_managers_put_follows_the_default_and_an_explicit_ttl_none_wins(
    kind: str, tmp_path: Path
) -> None:
    with store_with(kind, tmp_path, RETENTION) as (store, ttls):
        manager = create_memory_store_manager(ScriptedChatModel(), store=store)
        manager.put("kept", "User plays the cello", ttl=None, config=CONFIG)
        manager.put("retained", "User plays the oboe", config=CONFIG)
        manager.put("retained", "User plays the flute", config=CONFIG)
        manager.put("short", "User plays the harp", ttl=5, config=CONFIG)
        by_memory: dict[str, set[float | None]] = {}
        for (prefix, key), ttl in ttls().items():
            if prefix in MEMORY_PATHS:
                memory = key.split("@")[0]
                if prefix == ".".join(history_namespace(NS)):
                    memory = str(store.get(history_namespace(NS), key).value["memory_key"])  # type: ignore[union-attr]
                by_memory.setdefault(memory, set()).add(ttl)
        assert by_memory == {"kept": {None}, "retained": {60}, "short": {5}}

        manager.delete("kept", config=CONFIG)
        history = ".".join(history_namespace(NS))
        deleted = [
            ttl
            for (prefix, key), ttl in ttls().items()
            if prefix == history
            and store.get(history_namespace(NS), key).value["action"] == "delete"  # type: ignore[union-attr]
        ]
        assert deleted == [60]  # the memory is gone: its delete record follows the policy


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_the_memory_tool_gives_its_memories_and_records_the_default_ttl(
    kind: str, tmp_path: Path
) -> None:
    with store_with(kind, tmp_path, RETENTION) as (store, ttls):
        tool = create_manage_memory_tool(("memories", "{langgraph_user_id}"), store=store)
        tool.invoke({"content": "Prefers tea over coffee"}, CONFIG)
        about, _ = _split(ttls())
        assert {prefix for prefix, _ in about} == {".".join(NS), ".".join(history_namespace(NS))}
        assert set(about.values()) == {60}


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_episodes_stored_from_a_conversation_get_the_default_ttl(kind: str, tmp_path: Path) -> None:
    with store_with(kind, tmp_path, RETENTION) as (store, ttls):
        turns = [
            Message(role="user", content="I live in Lyon."),
            Message(role="assistant", content="Noted."),
        ]
        report = store_episodes(store, ("episodes", "alice"), turns)
        assert len(report.added) == 2
        assert set(ttls().values()) == {60}


def _memory_and_record_expiry(expiries: Ttls) -> tuple[float, float]:
    """When the one memory of ``NS`` and its time record expire."""
    (memory,) = [v for (prefix, _), v in expiries.items() if prefix == ".".join(NS)]
    (record,) = [v for (prefix, _), v in expiries.items() if prefix == ".".join(time_namespace(NS))]
    assert memory is not None and record is not None
    return memory, record


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_reading_a_memory_through_reverie_keeps_its_time_record_alive_with_it(
    kind: str, tmp_path: Path
) -> None:
    """A memory kept alive by being read must not outlive its time record: that would lose the
    event time it was learnt from once the record expired."""
    with store_with(kind, tmp_path, RETENTION) as (store, ttls):
        _converse(store, "I live in Lyon.")
        manager = create_memory_store_manager(ScriptedChatModel(), store=store)
        (key,) = [i.key for i in store.search(NS)]
        reads: list[Callable[[], object]] = [
            lambda: manager.search(query="where does the user live", config=CONFIG),
            lambda: manager.search(
                query="where does the user live", as_of=datetime.now(timezone.utc), config=CONFIG
            ),
            lambda: manager.get(key, config=CONFIG),
        ]
        for read in reads:
            before, _ = _memory_and_record_expiry(ttls(expiry=True))
            time.sleep(0.6)
            read()
            memory, record = _memory_and_record_expiry(ttls(expiry=True))
            assert memory > before + 0.5  # the read restarted the memory's lifetime ...
            assert abs(record - memory) < 0.3  # ... and its record's with it

        # A read that leaves lifetimes alone leaves both.
        before_both = _memory_and_record_expiry(ttls(expiry=True))
        time.sleep(0.6)
        manager.search(query="where does the user live", refresh_ttl=False, config=CONFIG)
        manager.get(key, refresh_ttl=False, config=CONFIG)
        assert _memory_and_record_expiry(ttls(expiry=True)) == before_both


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_without_a_ttl_policy_an_explicit_refresh_keeps_the_record_alive(
    kind: str, tmp_path: Path
) -> None:
    """A memory put with its own ttl in a store without a TTL config: checking every read for
    such memories would cost every user a read, so only a read that asks for the refresh by
    name restarts its time record (docs/stores.md says so)."""
    with store_with(kind, tmp_path, None) as (store, ttls):
        manager = create_memory_store_manager(ScriptedChatModel(), store=store)
        manager.put("k", "User plays the cello", ttl=5, config=CONFIG)
        before, record_before = _memory_and_record_expiry(ttls(expiry=True))
        time.sleep(0.6)
        manager.search(query="cello", config=CONFIG)
        memory, record = _memory_and_record_expiry(ttls(expiry=True))
        assert memory > before + 0.5 and record == record_before
        time.sleep(0.6)
        manager.search(query="cello", refresh_ttl=True, config=CONFIG)
        memory, record = _memory_and_record_expiry(ttls(expiry=True))
        assert abs(record - memory) < 0.3
