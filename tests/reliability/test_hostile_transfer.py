"""Hostile values through ``reverie import`` / ``export`` and the MCP server, on every backend."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from mcp.server.mcpserver.exceptions import ToolError
from typer.testing import CliRunner

import reverie.cli.app  # noqa: F401 - registers the commands on the app
from reverie import InputError, LimitError
from reverie.cli.export_file import read_export
from reverie.cli.mcp_server import build_server
from reverie.cli.storage import restore_items
from reverie.cli.typer_app import app
from reverie.core.limits import Limits
from reverie.stores.embedded import EmbeddedStore
from reverie.testing import hashing_index
from tests.postgres.support import fresh_database
from tests.reliability.hostile import MB, NS, TEXTS, Harness, contents, normalised

STAMP = '"created_at":"2026-01-02T10:00:00Z","updated_at":"2026-01-02T10:00:00Z"'


def line(namespace: list[str], key: str, value: str) -> str:
    """One export line, ``value`` being raw JSON (so it may hold what Python cannot write)."""
    return (
        f'{{"namespace":{json.dumps(namespace)},"key":{json.dumps(key)},"value":{value},{STAMP}}}'
    )


def memory(text_json: str) -> str:
    return f'{{"kind":"Memory","content":{{"content":{text_json}}}}}'


GOOD = line(["memories", "alice"], "old", memory('"tea\\u0000 time \\ud800"'))
BAD_LINES = {
    "nan": line(["memories", "alice"], "k", '{"score":NaN}'),
    "infinity": line(["memories", "alice"], "k", '{"score":-Infinity}'),
    "nul-label": line(["memories", "ali\x00ce"], "k", memory('"x"')),
    "surrogate-key": line(["memories", "alice"], "k\udc80", memory('"x"')),
    "3000-char-label": line(["memories", "a" * 3000], "k", memory('"x"')),
    "3000-char-key": line(["memories", "alice"], "k" * 3000, memory('"x"')),
    "too-deep": line(["m"] * 9, "k", memory('"x"')),
    "70-kb-memory": line(["memories", "alice"], "k", memory(json.dumps("x" * 70_000))),
    "2-mb-line": line(["__reverie__", "x"], "k", json.dumps({"blob": "x" * (2 * MB)})),
}


def read(text: str, limits: Limits | None = None) -> list[Any]:
    return read_export(io.BytesIO(text.encode()), "backup.jsonl", limits or Limits())


def test_an_export_holding_nul_and_surrogates_imports_normalised(any_store: BaseStore) -> None:
    harness = Harness(any_store)
    restore_items(any_store, read(GOOD + "\n"))
    assert normalised("tea\x00 time \ud800") in contents(any_store)
    harness.check_nothing_stored_changed()
    harness.check_thread_still_works([])


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_a_bad_line_stops_the_import_before_anything_is_written(
    any_store: BaseStore, name: str
) -> None:
    harness = Harness(any_store)
    with pytest.raises(InputError) as caught:
        read("\n".join([GOOD, BAD_LINES[name], GOOD]) + "\n")
    message = str(caught.value)
    assert "backup.jsonl line 2" in message and "Nothing was imported" in message
    assert len(message) < 700
    assert contents(any_store) == ["User is called Alice"]
    harness.check_nothing_stored_changed()
    harness.check_thread_still_works([])


def test_the_line_limit_reads_no_further_than_the_limit() -> None:
    with pytest.raises(LimitError) as caught:
        read(GOOD + "\n" + "x" * (300 * MB // 100) + "\n", Limits(max_import_line_bytes=1000))
    assert caught.value.limit_name == "max_import_line_bytes" and caught.value.size == 1001


@pytest.fixture(params=["embedded", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "embedded":
        yield str(tmp_path / "m.db")
    else:
        with fresh_database() as url:
            yield url


def run_cli(target: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        app,
        ["--store", target, "--embeddings", "hashing", *args],
        env={"REVERIE_STORE": None, **(env or {})},
    )


def test_reverie_import_applies_the_limits_and_says_how_to_change_them(
    store_target: str, tmp_path: Path
) -> None:
    backup = tmp_path / "backup.jsonl"
    backup.write_text(GOOD + "\n" + BAD_LINES["70-kb-memory"] + "\n", encoding="utf-8")
    refused = run_cli(store_target, "import", str(backup))
    assert refused.exit_code == 1
    assert "line 2" in refused.stderr and "REVERIE_MAX_VALUE_BYTES" in refused.stderr
    raised = run_cli(store_target, "import", str(backup), env={"REVERIE_MAX_VALUE_BYTES": "100000"})
    assert raised.exit_code == 0, raised.output
    assert "Imported 2 memories" in raised.stdout
    shown = run_cli(store_target, "show", "old", "-n", "memories/alice")
    assert json.loads(shown.stdout)["value"]["content"]["content"] == "tea time ?"


def test_export_says_when_nan_was_written_as_null(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with EmbeddedStore(path, index=hashing_index()) as store:
        store.put(NS, "k", {"score": 1.5})
    with sqlite3.connect(path) as conn:  # as a store written before NaN was refused holds it
        conn.execute("UPDATE items SET value = '{\"score\": NaN}' WHERE key = 'k'")
    exported = run_cli(str(path), "export")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["value"] == {"score": None}
    assert "1 value held NaN or Infinity" in exported.stderr
    assert "memories/alice k score" in exported.stderr


async def test_the_mcp_server_applies_the_value_policy(any_store: BaseStore) -> None:
    harness = Harness(any_store)
    server = build_server(any_store, NS)
    stored = await server.call_tool("remember", {"content": TEXTS["nul-and-surrogates"]})
    assert normalised(TEXTS["nul-and-surrogates"]) in contents(any_store)
    key = json.loads(stored.content[0].text)["key"]  # type: ignore[union-attr]
    for tool, args, expected in [
        ("remember", {"content": "\x00 "}, "The memory is empty"),
        ("update", {"key": key, "content": "\x00"}, "The memory is empty"),
        ("update", {"key": key, "content": "x" * (20 * MB)}, "at most 65,536 bytes"),
        ("remember", {"content": "x" * (20 * MB)}, "at most 65,536 bytes"),
        ("update", {"key": "k" * 100_000, "content": "x"}, "No memory with key"),
        ("forget", {"key": "k\x00"}, "No memory with key"),
        ("search", {"query": "q" * 10_000}, "at most 8,192"),
    ]:
        with pytest.raises(ToolError) as caught:
            await server.call_tool(tool, args)
        assert expected in str(caught.value) and len(str(caught.value)) < 600
    assert normalised(TEXTS["nul-and-surrogates"]) in contents(any_store)
    harness.check_nothing_stored_changed()
    harness.check_thread_still_works([])
