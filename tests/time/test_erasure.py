"""Erase for real: ``forget_user`` leaves nothing of a user in any table or bookkeeping
namespace, in one step, and says what it removed. Each test scans the whole store (every table
of the embedded file, every table of the PostgreSQL database) for the user's id and words."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from typer.testing import CliRunner

from reverie import Erased, aforget_user, create_memory_store_manager, forget_user
from reverie.cli.app import app
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import ScriptedChatModel, ScriptedRequest, hashing_index, tool_call
from tests.helpers import alias_of, new_conversation

USER = "alice-7f3c"
OTHER = "bob-19ae"
SECRETS = ("marmalade", "Lisbon", "Porto")

Scan = Callable[[], str]  # everything the store holds, as text


def respond(request: ScriptedRequest) -> Any:
    said = new_conversation(request)
    if "Porto" in said:
        alias = alias_of(request, "Lisbon")
        return tool_call("Memory", {"content": "she lives in Porto", "memory_id": alias})
    if "marmalade" in said:
        return tool_call("Memory", {"content": "her secret: marmalade"})
    if "Lisbon" in said:
        return tool_call("Memory", {"content": "she lives in Lisbon"})
    return tool_call("Memory", {"content": "he likes chess"})


def fill(store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(responder=respond), store=store)
    for user, text in [
        (USER, "I live in Lisbon"),
        (USER, "My secret is marmalade"),
        (USER, "I moved to Porto"),
        (OTHER, "I like chess"),
    ]:
        config: Any = {
            "configurable": {
                "langgraph_user_id": user,
                "thread_id": f"{user}-thread",
                "reference_time": datetime(2024, 5, 1, tzinfo=timezone.utc),
            }
        }
        manager.invoke({"messages": [{"role": "user", "content": text}]}, config)


def memory_scan(store: InMemoryStore) -> Scan:
    """Every item (InMemoryStore keeps listing a namespace emptied of its items, so names of
    namespaces are left out; the persistent stores drop them, and their scans include them)."""

    def scan() -> str:
        namespaces = store.list_namespaces(limit=100_000)
        return repr([store.search(ns, limit=100_000) for ns in namespaces])

    return scan


def sqlite_scan(path: Path) -> Scan:
    def scan() -> str:
        with closing(sqlite3.connect(path)) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return repr([conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables])  # fmt: skip

    return scan


def postgres_scan(url: str) -> Scan:
    def scan() -> str:
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
            return repr([conn.execute(f'SELECT t::text FROM "{t}" t').fetchall() for (t,) in tables])  # fmt: skip

    return scan


@pytest.fixture(params=["memory", "embedded", "postgres"])
def store_and_scan(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BaseStore, Scan]]:  # fmt: skip
    if request.param == "memory":
        store = InMemoryStore(index=hashing_index())
        yield store, memory_scan(store)
    elif request.param == "embedded":
        path = tmp_path / "memories.db"
        with EmbeddedStore(path, index=hashing_index()) as embedded:
            yield embedded, sqlite_scan(path)
    else:
        from reverie.stores.postgres import open_postgres_store
        from tests.postgres.support import fresh_database

        with fresh_database() as url, open_postgres_store(url, index=hashing_index()) as pg:
            yield pg, postgres_scan(url)


def test_forget_user_leaves_nothing_of_the_user(store_and_scan: tuple[BaseStore, Scan]) -> None:
    store, scan = store_and_scan
    fill(store)
    before = scan()
    assert USER in before and all(secret in before for secret in SECRETS)

    erased = forget_user(store, ("memories", USER))

    assert isinstance(erased, Erased)
    assert erased.counts == {
        "memories": 2,  # where she lives (now), her secret
        "past": 1,  # where she lived before
        "time": 2,
        "history": 3,
        "threads": 1,
        "usage": 3,  # one usage record per run
    }
    after = scan()
    assert USER not in after
    assert not any(secret in after for secret in SECRETS)
    assert OTHER in after and "chess" in after  # nobody else's memories went
    assert store.search(("memories", USER)) == []


async def test_forget_user_async_and_twice() -> None:
    store = InMemoryStore(index=hashing_index())
    fill(store)
    first = await aforget_user(store, ("memories", USER))
    assert first.total == 12
    again = await aforget_user(store, ("memories", USER))
    assert again.counts == {"memories": 0}


def test_forget_user_refuses_reverie_bookkeeping_and_the_root() -> None:
    from reverie import InputError

    store = InMemoryStore()
    for namespace in [(), ("__reverie__", "history", "memories", USER)]:
        with pytest.raises(InputError, match="memory namespace"):
            forget_user(store, namespace)


def test_the_cli_erases_a_namespace_after_confirmation(tmp_path: Path) -> None:
    path = tmp_path / "memories.db"
    with EmbeddedStore(path, index=hashing_index()) as store:
        fill(store)
    runner = CliRunner()
    base = ["--store", str(path), "--embeddings", "hashing", "forget", "-n", f"memories/{USER}"]
    refused = runner.invoke(app, base, input="n\n")
    assert refused.exit_code != 0
    assert USER in sqlite_scan(path)()
    done = runner.invoke(app, [*base, "--yes"])
    assert done.exit_code == 0, done.output
    assert "Erased memories/alice-7f3c: 12 items" in " ".join(done.output.split())
    assert USER not in sqlite_scan(path)()
