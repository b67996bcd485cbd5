"""``min_score`` and ``diversity`` at the entry points besides the managers: the search tool,
the executors' ``search``, the MCP server (and ``reverie mcp``) and ``reverie search``.

Alice's two memories score either side of ``MIN_SCORE`` for ``QUERY``: without a threshold both
come back, with it only the close one. Bob's are three copies of one memory and a near
neighbour: with ``diversity`` the neighbour moves up to second place.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from mcp.server.mcpserver import MCPServer
from typer.testing import CliRunner, Result

from reverie import (
    LLMReranker,
    SearchOptions,
    create_memory_store_manager,
    create_search_memory_tool,
)
from reverie.cli.app import app
from reverie.cli.mcp_server import build_server, serve
from reverie.core.errors import InputError
from reverie.executor import ReflectionExecutor
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import ScriptedChatModel, hashing_index

ALICE = ("memories", "alice")
BOB = ("memories", "bob")
TEMPLATE = ("memories", "{langgraph_user_id}")
AS_ALICE: Any = {"configurable": {"langgraph_user_id": "alice"}}
AS_BOB: Any = {"configurable": {"langgraph_user_id": "bob"}}

QUERY = "green tea"
CLOSE = "alice likes green tea"  # cosine about 0.61 to QUERY with the hashing embedder
UNRELATED = "the weather in paris is rainy"  # about 0.19
MIN_SCORE = 0.4

HIKING = "hiking mountain trail boots"
DUPLICATE = "hiking boots for the mountain trail"
NEIGHBOUR = "hiking in the rain with a mountain guide"
AS_RANKED = ["dup0", "dup1", "dup2", "neighbour"]
SPREAD = ["dup0", "neighbour", "dup1", "dup2"]
DIVERSITY = 0.7


def memory(text: str) -> dict[str, Any]:
    return {"kind": "Memory", "content": {"content": text}}


def fill(store: BaseStore) -> None:
    store.put(ALICE, "close", memory(CLOSE))
    store.put(ALICE, "unrelated", memory(UNRELATED))
    for n in range(3):
        store.put(BOB, f"dup{n}", memory(DUPLICATE))
    store.put(BOB, "neighbour", memory(NEIGHBOUR))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with EmbeddedStore(tmp_path / "options.db", index=hashing_index()) as opened:
        fill(opened)
        yield opened


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "options.db"
    with EmbeddedStore(path, index=hashing_index()) as opened:
        fill(opened)
    return path


def order(items: list[Any]) -> list[str]:
    return [i["key"] if isinstance(i, dict) else i.key for i in items]


def assert_straddles(items: list[Any]) -> None:
    """Both of Alice's memories came back, scoring either side of the threshold: what makes
    the threshold's test able to fail."""
    scores = {i["key"]: i["score"] for i in items}
    assert set(scores) == {"close", "unrelated"}
    assert scores["close"] > MIN_SCORE > scores["unrelated"]


# --- the search tool ----------------------------------------------------------------------------


def tool_search(tool: Any, config: Any, **args: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(tool.invoke(args, config))
    return found


def test_the_search_tool_leaves_out_matches_below_min_score(store: BaseStore) -> None:
    plain = create_search_memory_tool(TEMPLATE, store=store)
    assert_straddles(tool_search(plain, AS_ALICE, query=QUERY))
    strict = create_search_memory_tool(
        TEMPLATE, store=store, options=SearchOptions(min_score=MIN_SCORE)
    )
    assert order(tool_search(strict, AS_ALICE, query=QUERY)) == ["close"]
    # As of a date, min_score still applies.
    assert len(tool_search(plain, AS_ALICE, query=QUERY, as_of="2999-01-01")) == 2
    assert order(tool_search(strict, AS_ALICE, query=QUERY, as_of="2999-01-01")) == ["close"]
    # The options are the application's: the model is offered the same arguments.
    assert strict.args_schema is plain.args_schema
    assert strict.args == plain.args


async def test_the_search_tool_async_leaves_out_matches_below_min_score(store: BaseStore) -> None:
    strict = create_search_memory_tool(
        TEMPLATE, store=store, options=SearchOptions(min_score=MIN_SCORE)
    )
    found = json.loads(await strict.ainvoke({"query": QUERY}, AS_ALICE))
    assert order(found) == ["close"]


def test_the_search_tool_spreads_near_duplicates(store: BaseStore) -> None:
    plain = create_search_memory_tool(TEMPLATE, store=store)
    assert order(tool_search(plain, AS_BOB, query=HIKING)) == AS_RANKED
    diverse = create_search_memory_tool(
        TEMPLATE, store=store, options=SearchOptions(diversity=DIVERSITY)
    )
    assert order(tool_search(diverse, AS_BOB, query=HIKING)) == SPREAD


# --- the executors' search ----------------------------------------------------------------------


def test_the_executor_search_takes_search_options(store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    strict = SearchOptions(min_score=MIN_SCORE)
    with ReflectionExecutor(manager) as executor:
        assert_straddles(executor.search(QUERY, config=AS_ALICE))
        assert order(executor.search(QUERY, config=AS_ALICE, options=strict)) == ["close"]
        assert order(executor.search(HIKING, config=AS_BOB)) == AS_RANKED
        diverse = SearchOptions(diversity=DIVERSITY)
        assert order(executor.search(HIKING, config=AS_BOB, options=diverse)) == SPREAD


async def test_the_executor_asearch_takes_search_options(store: BaseStore) -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    with ReflectionExecutor(manager) as executor:
        found = await executor.asearch(
            QUERY, config=AS_ALICE, options=SearchOptions(min_score=MIN_SCORE)
        )
        assert order(found) == ["close"]


# --- the MCP server -----------------------------------------------------------------------------


async def mcp_search(server: MCPServer, query: str, **args: Any) -> list[dict[str, Any]]:
    result: Any = await server.call_tool("search", {"query": query, **args})
    found: list[dict[str, Any]] = result.structured_content["result"]
    return found


async def test_the_mcp_server_applies_its_min_score_and_diversity(store: BaseStore) -> None:
    assert_straddles(await mcp_search(build_server(store, ALICE), QUERY))
    strict = build_server(store, ALICE, min_score=MIN_SCORE)
    assert order(await mcp_search(strict, QUERY)) == ["close"]
    assert order(await mcp_search(strict, QUERY, as_of="2999-01-01")) == ["close"]
    assert order(await mcp_search(build_server(store, BOB), HIKING)) == AS_RANKED
    diverse = build_server(store, BOB, diversity=DIVERSITY)
    assert order(await mcp_search(diverse, HIKING)) == SPREAD


async def test_the_mcp_server_applies_a_reranker_from_its_options(store: BaseStore) -> None:
    assert order(await mcp_search(build_server(store, BOB), HIKING)) == AS_RANKED
    # The model puts the fourth candidate first: the neighbour, which search ranked last.
    model = ScriptedChatModel(replies=["4 1 2 3", "4 1 2 3"])
    reranked = build_server(store, BOB, options=SearchOptions(rerank=LLMReranker(model)))
    expected = ["neighbour", "dup0", "dup1", "dup2"]
    assert order(await mcp_search(reranked, HIKING)) == expected
    assert order(await mcp_search(reranked, HIKING, as_of="2999-01-01")) == expected
    assert HIKING in str(model.calls[0].request.messages[-1].content)  # the client's query


def test_the_mcp_server_refuses_settings_given_twice(store: BaseStore) -> None:
    with pytest.raises(InputError, match="not both"):
        build_server(store, ALICE, min_score=0.3, options=SearchOptions(diversity=0.5))


@pytest.mark.parametrize(
    "settings", [{"min_score": 1.5}, {"min_score": -2.0}, {"diversity": -0.1}, {"diversity": 2.0}]
)
def test_the_mcp_server_refuses_settings_out_of_range(
    store: BaseStore, settings: dict[str, Any]
) -> None:
    with pytest.raises(InputError, match=r"(min_score|diversity) .* in that range"):
        build_server(store, ALICE, **settings)


def test_serving_with_a_setting_out_of_range_creates_no_store(tmp_path: Path) -> None:
    missing = tmp_path / "new.db"
    with pytest.raises(InputError, match="min_score"):
        serve(str(missing), ALICE, index=hashing_index(), min_score=2.0)
    assert not missing.exists()


# --- the command line ---------------------------------------------------------------------------


def cli(path: Path, *args: str) -> Result:
    env = {"REVERIE_EMBEDDINGS": "hashing", "REVERIE_MODEL": None, "REVERIE_STORE": None}
    return CliRunner().invoke(app, ["--store", str(path), *args], env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def usage_error(result: Result) -> str:
    """The message of a refused option, unwrapped from typer's box."""
    assert result.exit_code == 2, result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def listed_keys(table: str) -> list[str]:
    return re.findall(r"(\w+) · Memory", table)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reverie_search_min_score(store_file: Path) -> None:
    found = ok(cli(store_file, "search", QUERY, "-n", "memories/alice"))
    assert listed_keys(found) == ["close", "unrelated"]
    strict = ("--min-score", str(MIN_SCORE))
    assert listed_keys(ok(cli(store_file, "search", QUERY, "-n", "memories/alice", *strict))) == [
        "close"
    ]
    as_of = ("--as-of", "2999-01-01")
    found = ok(cli(store_file, "search", QUERY, "-n", "memories/alice", *as_of, *strict))
    assert listed_keys(found) == ["close"]


def test_reverie_search_diversity(store_file: Path) -> None:
    found = ok(cli(store_file, "search", HIKING, "-n", "memories/bob"))
    assert listed_keys(found) == AS_RANKED
    diverse = ("--diversity", str(DIVERSITY))
    diverse_found = ok(cli(store_file, "search", HIKING, "-n", "memories/bob", *diverse))
    assert listed_keys(diverse_found) == SPREAD


@pytest.mark.parametrize("command", ["search", "mcp"])
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--min-score", "1.5", "give a number from -1 to 1"),
        ("--min-score", "nan", "give a number from -1 to 1"),
        ("--diversity", "-0.2", "give a number from 0 (off) to 1"),
    ],
)
def test_options_out_of_range_are_refused_and_nothing_changes(
    store_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    option: str,
    value: str,
    says: str,
) -> None:
    served: list[MCPServer] = []
    monkeypatch.setattr(MCPServer, "run", lambda server, *_: served.append(server))
    before = digest(store_file)
    query = [QUERY] if command == "search" else []
    message = usage_error(cli(store_file, command, *query, option, value))
    assert f"Invalid value for '{option}'" in message and says in message
    assert digest(store_file) == before and not served
    # Refused before a store is opened: none is created where there was none.
    missing = tmp_path / "new.db"
    usage_error(cli(missing, command, *query, option, value))
    assert not missing.exists()


def mcp_command_search(
    store_file: Path, monkeypatch: pytest.MonkeyPatch, namespace: str, query: str, *options: str
) -> list[str]:
    """``reverie mcp`` with ``options``, and in place of serving stdio, one client search
    through the server the command built."""
    found: list[list[str]] = []

    def search_once(server: MCPServer, *_: Any) -> None:
        found.append(order(asyncio.run(mcp_search(server, query))))

    monkeypatch.setattr(MCPServer, "run", search_once)
    ok(cli(store_file, "mcp", "-n", namespace, *options))
    (keys,) = found
    return keys


def test_reverie_mcp_serves_with_its_min_score_and_diversity(
    store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = "memories/alice", "memories/bob"
    assert mcp_command_search(store_file, monkeypatch, alice, QUERY) == ["close", "unrelated"]
    strict = ("--min-score", str(MIN_SCORE))
    assert mcp_command_search(store_file, monkeypatch, alice, QUERY, *strict) == ["close"]
    assert mcp_command_search(store_file, monkeypatch, bob, HIKING) == AS_RANKED
    diverse = ("--diversity", str(DIVERSITY))
    assert mcp_command_search(store_file, monkeypatch, bob, HIKING, *diverse) == SPREAD
