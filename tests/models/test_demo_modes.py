"""``reverie demo`` with a model states the extraction mode, and why nothing was stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reverie.cli import models
from reverie.cli.app import app
from reverie.testing import ScriptedChatModel, ScriptedRequest
from tests.models.helpers import answer


def demo(store: Path, env: dict[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {
        "REVERIE_EMBEDDINGS": "hashing",
        "REVERIE_MODEL": "openai:local",
        "REVERIE_STORE": None,
        "REVERIE_EXTRACTION_MODE": None,
    }
    return CliRunner().invoke(app, ["--store", str(store), "demo"], env={**base, **(env or {})})


def flat(text: str) -> str:
    return " ".join(text.split())


def use(monkeypatch: pytest.MonkeyPatch, model: ScriptedChatModel) -> None:
    monkeypatch.setattr(models, "load_chat_model", lambda spec: model)


def test_the_demo_states_the_mode_and_the_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def server(request: ScriptedRequest) -> str:
        if request.structured_method == "json_schema":
            return answer(("Memory", {"content": "User prefers dark mode"}))
        return "Dark mode is easier on the eyes!"

    use(monkeypatch, ScriptedChatModel(profile={}, responder=server))
    result = demo(tmp_path / "demo.db")
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "extraction mode: json_schema (2 model calls)" in out
    assert "moved on from tools -> json_schema: a reply in prose" in out
    assert "1 written, 0 removed" in out


def test_the_demo_says_why_nothing_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ScriptedChatModel(replies=["Noted, dark mode it is!"]))
    result = demo(tmp_path / "demo.db", {"REVERIE_EXTRACTION_MODE": "text"})
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "extraction mode: text (1 model call)" in out
    assert "Nothing stored: the model's reply could not be read as memory operations." in out
    assert "(text mode): prose without JSON" in out


def test_a_bad_extraction_mode_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ScriptedChatModel())
    result = demo(tmp_path / "demo.db", {"REVERIE_EXTRACTION_MODE": "grammar"})
    assert result.exit_code == 1
    assert "extraction_mode must be one of" in result.stderr


def test_a_local_server_needs_no_api_key(
    monkeypatch: pytest.MonkeyPatch, openai_client: None
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    model = models.load_chat_model("openai:local")
    assert str(model.root_client.base_url).startswith("http://127.0.0.1:9/v1")
    assert model.openai_api_key.get_secret_value() == models.LOCAL_SERVER_KEY
