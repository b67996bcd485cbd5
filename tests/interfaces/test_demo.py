"""``reverie demo``: offline episodic memory without a model, real extraction with one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from reverie.cli import models
from reverie.cli.app import app
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call


def demo(store: Path, *, embeddings: str | None = "hashing", model: str | None = None) -> Result:
    env = {"REVERIE_EMBEDDINGS": embeddings, "REVERIE_MODEL": model, "REVERIE_STORE": None}
    return CliRunner().invoke(app, ["--store", str(store), "demo"], env=env)


def stored(store: Path) -> list[dict]:
    exported = CliRunner().invoke(
        app, ["--store", str(store), "export"], env={"REVERIE_EMBEDDINGS": "hashing"}
    )
    assert exported.exit_code == 0, exported.output
    return [json.loads(line) for line in exported.stdout.splitlines()]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_offline_demo_stores_the_sample_turns_and_searches_them(tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    result = demo(store)
    assert result.exit_code == 0, (result.output, result.exception)
    out = flat(result.stdout)
    assert "offline, no model" in out
    assert "episodic memories in 'demo/sample': 20 new, 0 already stored" in out
    assert "Memories (first 6 of 20)" in out
    assert "I'm Nadia" in out
    for query in ("Any dietary restrictions?", "Does she have any pets?"):
        assert f"search: {query}" in out
    # It says plainly what needs a model and how to configure one.
    assert "Semantic extraction" in out and "needs a chat model" in out
    assert "REVERIE_MODEL=openai:gpt-4.1-mini" in out and "OPENAI_API_KEY" in out
    assert "OPENAI_BASE_URL" in out and "REVERIE_MODEL=openai:<its model name>" in out

    memories = stored(store)
    assert len(memories) == 20
    assert {m["value"]["kind"] for m in memories} == {"Episode"}
    assert {tuple(m["namespace"]) for m in memories} == {("demo", "sample")}


def test_offline_demo_twice_adds_no_duplicates(tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    assert demo(store).exit_code == 0
    first = stored(store)
    again = demo(store)
    assert again.exit_code == 0
    assert "0 new, 20 already stored" in flat(again.stdout)
    assert stored(store) == first


def test_offline_demo_with_the_default_local_embeddings(tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    result = demo(store, embeddings=None)
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    assert "all-MiniLM-L6-v2 (local)" in out
    # Found by meaning, not by shared words: each question's best match is the turn that answers.
    assert "border collie" in best_match(out, "Does she have any pets?")
    assert "vegetarian" in best_match(out, "Any dietary restrictions?")
    assert "getting married" in best_match(out, "Is there a family event coming up?")
    assert "allergic to cats" in best_match(out, "Any allergies?")


def test_the_offline_demo_opens_no_network_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README: "no API key, no network", "works offline". Any connection or name lookup
    # beyond this machine is refused and recorded; the demo must not need one.
    import socket

    attempts: list[str] = []
    local = {"localhost", "127.0.0.1", "::1", None, ""}

    def refuse(what: str) -> OSError:
        attempts.append(what)
        return OSError(f"network blocked by the test: {what}")

    original_connect = socket.socket.connect
    original_lookup = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in local:
            raise refuse(f"connect {address!r}")
        original_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in local:
            raise refuse(f"lookup {host!r}")
        return original_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = demo(tmp_path / "demo.db", embeddings=None)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "episodic memories in 'demo/sample': 20 new" in flat(result.stdout)
    assert attempts == []


def best_match(output: str, query: str) -> str:
    """The text of the first result row printed under ``search: QUERY``."""
    table = output.split(f"search: {query}", 1)[1].split("└", 1)[0]
    rows = table.split("┡", 1)[1].splitlines()[1:]
    first: list[str] = []
    for line in rows:
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if first and cells[0]:  # the next row starts with its score
            break
        first.append(cells[-1])
    return " ".join(first)


def _remembers_dark_mode(request: ScriptedRequest) -> dict[str, Any]:
    return tool_call("Memory", {"content": "User prefers dark mode in all apps"})


def test_demo_with_a_configured_model_runs_real_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(responder=_remembers_dark_mode)
    asked: list[str] = []

    def load(spec: str) -> ScriptedChatModel:
        asked.append(spec)
        return model

    monkeypatch.setattr(models, "load_chat_model", load)
    store = tmp_path / "demo.db"
    result = demo(store, model="openai:gpt-4.1-mini")
    assert result.exit_code == 0, (result.output, result.exception)
    assert asked == ["openai:gpt-4.1-mini"]
    assert len(model.calls) == 1
    out = flat(result.stdout)
    assert "with openai:gpt-4.1-mini" in out
    assert "I prefer dark mode in all my apps" in model.calls[0].request.messages[-1].text
    assert "1 written, 0 removed" in out
    assert "User prefers dark mode in all apps" in out.split("search: app preferences", 1)[1]
    assert "No model configured" not in out

    memories = [m for m in stored(store) if m["namespace"] == ["demo", "quickstart"]]
    assert [m["value"] for m in memories] == [
        {"kind": "Memory", "content": {"content": "User prefers dark mode in all apps"}}
    ]

    # Again: the manager knows this conversation, so the model is not asked and nothing is added.
    again = demo(store, model="openai:gpt-4.1-mini")
    assert again.exit_code == 0, again.output
    assert len(model.calls) == 1
    assert "Nothing new to extract" in flat(again.stdout)
    assert [m for m in stored(store) if m["namespace"] == ["demo", "quickstart"]] == memories


def test_demo_with_an_unusable_model_says_how_to_configure(tmp_path: Path) -> None:
    result = demo(tmp_path / "demo.db", model="no-such-provider:model")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "REVERIE_MODEL" in lines[0]
