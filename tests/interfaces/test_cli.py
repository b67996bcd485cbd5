"""The ``reverie`` command through its real entry point: typer's runner and a subprocess."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from reverie.cli import models
from reverie.cli.app import app
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call

REPO = Path(__file__).resolve().parents[2]

CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a travel assistant."},
    {"role": "user", "content": "I keep a saltwater aquarium with two clownfish."},
    {"role": "assistant", "content": "Clownfish are hardy; keep the salinity stable."},
    {"role": "user", "content": [{"type": "text", "text": "My favourite composer is Sibelius."}]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
    {"role": "tool", "tool_call_id": "c1", "content": "Sibelius wrote seven symphonies."},
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "memories.db"


def cli(runner: CliRunner, store: Path, *args: str, input: str | None = None) -> Result:
    """Run ``reverie --store STORE ARGS`` offline, with the fast deterministic embedder."""
    env = {"REVERIE_EMBEDDINGS": "hashing", "REVERIE_MODEL": None, "REVERIE_STORE": None}
    return runner.invoke(app, ["--store", str(store), *args], env=env, input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_line_error(result: Result) -> str:
    """The command failed with exactly one line on stderr and no traceback."""
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def keys_in(runner: CliRunner, store: Path, *args: str) -> list[str]:
    exported = cli(runner, store, "export", *args)
    ok(exported)
    return [json.loads(line)["key"] for line in exported.stdout.splitlines()]


@pytest.fixture
def filled(runner: CliRunner, store: Path, tmp_path: Path) -> Path:
    ok(cli(runner, store, "ingest", str(write_json(tmp_path / "c.json", CONVERSATION))))
    return store


# --- help ---------------------------------------------------------------------------------------


def test_help_on_the_app_and_every_command(runner: CliRunner) -> None:
    top = runner.invoke(app, ["--help"])
    commands = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    assert top.exit_code == 0
    assert {"demo", "ingest", "search", "list", "show", "forget", "export", "import", "stats"} <= {
        *commands
    }
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"reverie {name}" in result.stdout.replace("\n", " ")
        assert name in top.stdout


# --- ingest -------------------------------------------------------------------------------------


def test_ingest_json_reports_what_changed_and_is_idempotent(
    runner: CliRunner, store: Path, tmp_path: Path
) -> None:
    file = write_json(tmp_path / "c.json", {"messages": CONVERSATION})
    first = ok(cli(runner, store, "ingest", str(file)))
    assert "4 new episodes, 0 already stored, 2 skipped" in " ".join(first.split())
    assert "REVERIE_MODEL" in first  # says how to get semantic extraction

    again = ok(cli(runner, store, "ingest", str(file)))
    assert "0 new episodes, 4 already stored" in " ".join(again.split())
    assert len(keys_in(runner, store)) == 4


def test_ingest_jsonl_into_a_namespace_template(
    runner: CliRunner, store: Path, tmp_path: Path
) -> None:
    file = write_jsonl(tmp_path / "c.jsonl", CONVERSATION)
    out = ok(
        cli(runner, store, "ingest", str(file), "-n", "chats/{langgraph_user_id}", "-u", "ana")
    )
    assert "chats/ana" in out
    listed = ok(cli(runner, store, "list", "-n", "chats/ana"))
    assert "clownfish" in listed and "Sibelius" in listed
    assert ok(cli(runner, store, "list", "-n", "memories")).strip() == "No memories stored."


# --- search, list, show, forget, stats ----------------------------------------------------------


def test_search_finds_the_matching_turn_first(runner: CliRunner, filled: Path) -> None:
    out = ok(cli(runner, filled, "search", "saltwater aquarium clownfish", "--limit", "1"))
    assert "saltwater aquarium" in out
    assert "Sibelius" not in out
    assert "No memories found." in ok(cli(runner, filled, "search", "x", "-n", "elsewhere"))


def test_show_and_forget_a_memory(runner: CliRunner, filled: Path) -> None:
    keys = keys_in(runner, filled)
    shown = json.loads(ok(cli(runner, filled, "show", keys[0])))
    assert shown["key"] == keys[0]
    assert shown["namespace"] == ["memories", "default"]
    assert shown["value"]["kind"] == "Episode"

    assert f"Forgot {keys[0]}" in ok(cli(runner, filled, "forget", keys[0]))
    assert keys_in(runner, filled) == keys[1:]
    assert "No memory with key" in one_line_error(cli(runner, filled, "show", keys[0]))


def test_stats_counts_per_namespace_and_kind(
    runner: CliRunner, filled: Path, tmp_path: Path
) -> None:
    other = write_json(tmp_path / "o.json", [{"role": "user", "content": "I live in Tromsø."}])
    ok(cli(runner, filled, "ingest", str(other), "-n", "memories/bob"))
    out = ok(cli(runner, filled, "stats"))
    assert "5 memories in 2 namespaces" in out
    assert "memories/bob" in out and "Episode" in out
    assert "1 memory in 1 namespace" in ok(cli(runner, filled, "stats", "-n", "memories/bob"))


def test_stats_counts_every_memory_once_per_namespace_and_kind(
    runner: CliRunner, store: Path
) -> None:
    from langgraph.store.base import PutOp

    from reverie.ledger import port_for
    from reverie.stores.embedded import EmbeddedStore
    from reverie.testing import hashing_index

    ana, work, bob = ("memories", "ana"), ("memories", "ana", "work"), ("memories", "bob")
    writes = [
        PutOp(ana, f"m{i}", {"kind": "Episode" if i % 3 == 0 else "Memory", "n": i}, index=False)
        for i in range(1200)  # more than one page of a listing
    ]
    writes += [
        PutOp(work, "w", {"kind": "Memory"}, index=False),
        PutOp(bob, "b1", {"kind": "Memory"}, index=False),
        PutOp(bob, "b2", {"content": "no kind"}, index=False),
        PutOp(("__reverie__", "history", *ana), "h", {"kind": "Memory"}, index=False),
    ]
    with EmbeddedStore(store, index=hashing_index()) as opened:
        assert port_for(opened).commit([], writes)

    def rows(out: str) -> list[tuple[str, int]]:
        return [(name, int(n)) for name, n in re.findall(r"│ (\S+) +│ (\d+) +│", out)]

    out = ok(cli(runner, store, "stats"))
    assert "1203 memories in 3 namespaces" in out  # Reverie's own records are not memories
    assert rows(out) == [
        ("memories/ana", 1200),
        ("memories/ana/work", 1),
        ("memories/bob", 2),
        ("Memory", 802),
        ("Episode", 400),
        ("-", 1),
    ]
    only = ok(cli(runner, store, "stats", "-n", "memories/ana"))
    assert "1200 memories in 1 namespace" in only
    assert rows(only) == [("memories/ana", 1200), ("Memory", 800), ("Episode", 400)]
    below = ok(cli(runner, store, "stats", "-n", "memories/ana", "--descendants"))
    assert "1201 memories in 2 namespaces" in below


# --- export / import ----------------------------------------------------------------------------


def test_export_import_round_trips_exactly(runner: CliRunner, filled: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    ok(cli(runner, filled, "export", "-o", str(first)))
    fresh = tmp_path / "fresh.db"
    assert "Imported 4 memories (4 new, 0 replaced)" in ok(cli(runner, fresh, "import", str(first)))
    second = tmp_path / "second.jsonl"
    ok(cli(runner, fresh, "export", "-o", str(second)))
    assert second.read_bytes() == first.read_bytes()
    assert len(first.read_bytes().splitlines()) == 4

    # Importing again replaces in place; stdin works too.
    again = ok(cli(runner, fresh, "import", "-", input=first.read_text()))
    assert "(0 new, 4 replaced)" in again
    third = cli(runner, fresh, "export")
    assert ok(third).encode() == first.read_bytes()


def test_import_rejects_a_bad_line_and_imports_nothing(
    runner: CliRunner, filled: Path, tmp_path: Path
) -> None:
    good = cli(runner, filled, "export")
    lines = ok(good).splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], '{"namespace": ["x"], "key": "k"}', *lines[1:]]) + "\n")
    fresh = tmp_path / "fresh.db"
    message = one_line_error(cli(runner, fresh, "import", str(bad)))
    assert "line 2" in message and "Nothing was imported" in message
    assert keys_in(runner, fresh) == []


# --- bad input ----------------------------------------------------------------------------------


def test_missing_file(runner: CliRunner, store: Path, tmp_path: Path) -> None:
    message = one_line_error(cli(runner, store, "ingest", str(tmp_path / "nope.json")))
    assert "File not found" in message and "nope.json" in message
    assert "File not found" in one_line_error(cli(runner, store, "import", str(tmp_path / "x")))


def test_malformed_json(runner: CliRunner, store: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"role": "user", "content": "hi"')
    assert "not valid JSON" in one_line_error(cli(runner, store, "ingest", str(broken)))
    lines = tmp_path / "broken.jsonl"
    lines.write_text('{"role": "user", "content": "hi"}\n{"role": \n')
    assert "line 2 is not valid JSON" in one_line_error(cli(runner, store, "ingest", str(lines)))
    wrong = write_json(tmp_path / "wrong.json", [{"speaker": "me", "text": "hi"}])
    assert '"role" and "content"' in one_line_error(cli(runner, store, "ingest", str(wrong)))
    assert keys_in(runner, store) == []


def test_unknown_key(runner: CliRunner, filled: Path) -> None:
    before = keys_in(runner, filled)
    for command in ("show", "forget"):
        message = one_line_error(cli(runner, filled, command, "no-such-key"))
        assert "No memory with key 'no-such-key'" in message and "reverie list" in message
    assert "memories/default" in one_line_error(
        cli(runner, filled, "forget", "no-such-key", "-n", "memories/default")
    )
    assert keys_in(runner, filled) == before


def test_bad_namespace_and_embeddings_options(runner: CliRunner, store: Path) -> None:
    assert "not valid" in one_line_error(cli(runner, store, "list", "-n", "a//b"))
    bad = runner.invoke(app, ["--store", str(store), "--embeddings", "nonsense", "list"])
    assert "Unknown embeddings 'nonsense'" in one_line_error(bad)


def test_a_locked_database(runner: CliRunner, filled: Path, tmp_path: Path) -> None:
    before = keys_in(runner, filled)
    other = write_json(tmp_path / "o.json", [{"role": "user", "content": "I live in Tromsø."}])
    holder = sqlite3.connect(filled, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        message = one_line_error(cli(runner, filled, "ingest", str(other)))
        assert "lock" in message.lower()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert keys_in(runner, filled) == before
    ok(cli(runner, filled, "ingest", str(other)))


def test_a_file_of_random_bytes_is_not_a_store(runner: CliRunner, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    for command in (["list"], ["stats"], ["search", "x"]):
        assert "not a SQLite database" in one_line_error(cli(runner, junk, *command))
    assert junk.stat().st_size == 4096


def test_a_foreign_sqlite_database_is_not_a_store(runner: CliRunner, tmp_path: Path) -> None:
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers (name) VALUES ('Ada')")
    db.close()
    file = write_json(tmp_path / "c.json", CONVERSATION)
    message = one_line_error(cli(runner, foreign, "ingest", str(file)))
    assert "written by another program" in message and "untouched" in message
    with sqlite3.connect(foreign) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert tables == {"customers"}


# --- a real process -----------------------------------------------------------------------------


def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("REVERIE_MODEL", None)
    env.pop("REVERIE_STORE", None)
    env["REVERIE_EMBEDDINGS"] = "hashing"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli.app", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "work").mkdir()
    yield tmp_path / "work"


def test_the_command_in_a_real_process(workdir: Path) -> None:
    file = write_jsonl(workdir / "chat.jsonl", CONVERSATION)
    ingested = run_process("--store", "m.db", "ingest", "chat.jsonl", cwd=workdir)
    assert ingested.returncode == 0, ingested.stderr
    assert "4 new episodes" in " ".join(ingested.stdout.split())

    exported = run_process("--store", "m.db", "export", cwd=workdir)
    assert exported.returncode == 0, exported.stderr
    assert [json.loads(line)["value"]["content"]["turn"] for line in exported.stdout.splitlines()]

    missing = run_process("--store", "m.db", "ingest", "missing.json", cwd=workdir)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [f"error: File not found: {Path('missing.json')}"]
    assert "Traceback" not in missing.stderr
    assert file.exists()


def test_ingest_with_a_model_extracts_memories(
    runner: CliRunner, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def composer(request: ScriptedRequest) -> dict:
        return tool_call("Memory", {"content": "User's favourite composer is Sibelius"})

    model = ScriptedChatModel(responder=composer)
    monkeypatch.setattr(models, "load_chat_model", lambda spec: model)
    file = write_json(tmp_path / "c.json", CONVERSATION)
    env = {"REVERIE_EMBEDDINGS": "hashing", "REVERIE_MODEL": "openai:gpt-4.1-mini"}
    args = ["--store", str(store), "ingest", str(file), "-u", "ana"]
    out = ok(runner.invoke(app, args, env=env))
    assert "into memories/ana: 1 memory written, 0 removed" in " ".join(out.split())
    assert "Sibelius" in out
    seen = model.calls[0].request.messages[-1].text
    assert "saltwater aquarium" in seen and "Sibelius wrote seven symphonies" not in seen
    again = ok(runner.invoke(app, args, env=env))
    assert "0 memories written" in " ".join(again.split())
    assert len(model.calls) == 1
    exported = [json.loads(line) for line in ok(cli(runner, store, "export")).splitlines()]
    memories = [e["value"] for e in exported if e["namespace"] == ["memories", "ana"]]
    assert memories == [
        {"kind": "Memory", "content": {"content": "User's favourite composer is Sibelius"}}
    ]

    # The manager's bookkeeping travels with an export, so the copy also knows the conversation.
    assert any(e["namespace"][0] == "__reverie__" for e in exported)
    backup, copy = tmp_path / "backup.jsonl", tmp_path / "copy.db"
    ok(cli(runner, store, "export", "-o", str(backup)))
    ok(cli(runner, copy, "import", str(backup)))
    assert ok(cli(runner, copy, "export")).encode() == backup.read_bytes()
    assert "Sibelius" in ok(cli(runner, copy, "search", "composer", "-n", "memories/ana"))
    assert "1 memory in 1 namespace" in ok(cli(runner, copy, "stats"))
    ok(runner.invoke(app, ["--store", str(copy), "ingest", str(file), "-u", "ana"], env=env))
    assert len(model.calls) == 1
