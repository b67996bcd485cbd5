"""Every reader searches exactly the namespace it is given; the namespaces below it (here
another tenant's ``("memories", "alice", "shared-team")``) only when asked for by name.

One test per entry point: the manager, the search tool, the executors' ``search``, the CLI and
the MCP server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from typer.testing import CliRunner

from reverie import create_memory_store_manager, create_search_memory_tool
from reverie.cli.app import app
from reverie.cli.mcp_server import build_server
from reverie.executor import ReflectionExecutor
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import ScriptedChatModel, hashing_index

ALICE = ("memories", "alice")
TEAM = ("memories", "alice", "shared-team")
OTHER = ("memories", "alice2")
CONFIG: Any = {"configurable": {"langgraph_user_id": "alice"}}


def memory(text: str) -> dict[str, Any]:
    return {"kind": "Memory", "content": {"content": text}}


def fill(store: BaseStore) -> None:
    store.put(ALICE, "own", memory("alice likes green tea"))
    store.put(TEAM, "team", memory("the team likes green tea too"))
    store.put(OTHER, "other", memory("alice2 likes green tea"))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with EmbeddedStore(tmp_path / "scope.db", index=hashing_index()) as opened:
        fill(opened)
        yield opened


def keys(items: list[Any]) -> list[str]:
    return sorted(i["key"] if isinstance(i, dict) else i.key for i in items)


def test_the_manager(store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    assert keys(manager.search(query="green tea", config=CONFIG)) == ["own"]
    assert keys(manager.search(query="green tea", config=CONFIG, descendants=True)) == [
        "own",
        "team",
    ]


async def test_the_manager_async(store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    assert keys(await manager.asearch(query="green tea", config=CONFIG)) == ["own"]


def test_the_search_tool(store: BaseStore) -> None:
    namespace = ("memories", "{langgraph_user_id}")
    tool = create_search_memory_tool(namespace, store=store)
    found = json.loads(tool.invoke({"query": "green tea"}, CONFIG))
    assert keys(found) == ["own"]
    wide = create_search_memory_tool(namespace, store=store, descendants=True)
    assert keys(json.loads(wide.invoke({"query": "green tea"}, CONFIG))) == ["own", "team"]


def test_the_executor_search(store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    with ReflectionExecutor(manager) as executor:
        assert keys(executor.search("green tea", config=CONFIG)) == ["own"]
        assert keys(executor.search("green tea", config=CONFIG, descendants=True)) == [
            "own",
            "team",
        ]
        assert keys(executor.search(namespace=TEAM)) == ["team"]


def test_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "scope.db"
    with EmbeddedStore(path, index=hashing_index()) as opened:
        fill(opened)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--store", str(path), "--embeddings", "hashing", *args])
        assert result.exit_code == 0, result.output
        return result.output

    exact = run("search", "green tea", "-n", "memories/alice")
    assert "alice likes green tea" in exact and "the team" not in exact and "alice2" not in exact
    wide = run("search", "green tea", "-n", "memories/alice", "--descendants")
    assert "alice likes green tea" in wide and "the team" in wide and "alice2" not in wide
    listed = run("list", "-n", "memories/alice")
    assert "alice likes green tea" in listed and "the team" not in listed
    assert "the team" in run("list", "-n", "memories/alice", "-d")


async def test_the_mcp_server(store: BaseStore) -> None:
    async def search(server: Any) -> list[str]:
        result = await server.call_tool("search", {"query": "green tea"})
        return sorted(r["key"] for r in result.structured_content["result"])

    assert await search(build_server(store, ALICE)) == ["own"]
    assert await search(build_server(store, ALICE, descendants=True)) == ["own", "team"]
