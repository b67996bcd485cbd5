"""``reverie mcp`` end to end: the MCP SDK's own stdio client talks to the spawned server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO = Path(__file__).resolve().parents[2]


def _server(store: Path, namespace: str) -> StdioServerParameters:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "reverie.cli.app", "--store", str(store), "--embeddings", "hashing"]
        + ["mcp", "-n", namespace],
        env=env,
        cwd=str(REPO),
    )


def _is_error(result: Any) -> bool:
    # mcp 2 names fields in snake_case, mcp 1 in camelCase.
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def _payload(result: Any) -> Any:
    assert not _is_error(result), result.content
    data = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    if data is not None:
        return data.get("result", data) if isinstance(data, dict) and len(data) == 1 else data
    return json.loads(result.content[0].text)


def _error_text(result: Any) -> str:
    assert _is_error(result)
    return " ".join(getattr(part, "text", "") for part in result.content)


@pytest.mark.timeout(120)
async def test_mcp_server_remembers_finds_updates_and_forgets(tmp_path: Path) -> None:
    store = tmp_path / "mcp.db"
    async with (
        stdio_client(_server(store, "memories/alice")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert {"remember", "search", "update", "forget"} <= tools

        stored = _payload(
            await session.call_tool("remember", {"content": "Alice is allergic to peanuts"})
        )
        await session.call_tool("remember", {"content": "Alice plays the cello on weekends"})
        key = stored["key"]
        assert stored["namespace"] == "memories/alice"

        found = _payload(await session.call_tool("search", {"query": "peanuts allergy"}))
        assert found[0]["key"] == key
        assert found[0]["content"] == "Alice is allergic to peanuts"

        await session.call_tool("update", {"key": key, "content": "Alice is allergic to cashews"})
        found = _payload(await session.call_tool("search", {"query": "allergic cashews"}))
        assert found[0] == {**found[0], "key": key, "content": "Alice is allergic to cashews"}

        missing = await session.call_tool("update", {"key": "no-such-key", "content": "x"})
        assert "no-such-key" in _error_text(missing)

        _payload(await session.call_tool("forget", {"key": key}))
        remaining = _payload(await session.call_tool("search", {"query": "allergic"}))
        assert [m["content"] for m in remaining] == ["Alice plays the cello on weekends"]
        assert "nothing was changed" in _error_text(await session.call_tool("forget", {"key": key}))


@pytest.mark.timeout(120)
async def test_mcp_server_stays_inside_its_namespace(tmp_path: Path) -> None:
    store = tmp_path / "mcp.db"
    async with (
        stdio_client(_server(store, "memories/alice")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        key = _payload(await session.call_tool("remember", {"content": "Alice's secret"}))["key"]
    async with (
        stdio_client(_server(store, "memories/bob")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert _payload(await session.call_tool("search", {"query": "secret"})) == []
        assert _is_error(await session.call_tool("forget", {"key": key}))
        assert _is_error(await session.call_tool("update", {"key": key, "content": "stolen"}))
