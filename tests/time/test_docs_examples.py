"""The time examples of the README and docs/time.md, run as written: only the model behind the
model string is a scripted one (no network here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import alias_of, new_conversation

REPO = Path(__file__).resolve().parents[2]


def block(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8").split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match, f"no python block under {heading!r} in {path.name}"
    return match.group(1)


def moves_city(request: ScriptedRequest) -> Any:
    if "Porto" in new_conversation(request):
        alias = alias_of(request, "Lisbon")
        return tool_call("Memory", {"content": "Ana lives in Porto", "memory_id": alias})
    return tool_call("Memory", {"content": "Ana lives in Lisbon"})


@pytest.fixture
def scripted_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import langchain.chat_models

    def init_chat_model(spec: str, **_: Any) -> ScriptedChatModel:
        assert spec == "openai:gpt-4.1-mini"
        return ScriptedChatModel(responder=moves_city)

    monkeypatch.setattr(langchain.chat_models, "init_chat_model", init_chat_model)
    monkeypatch.chdir(tmp_path)  # "memories.db" goes to a fresh folder


def contents(items: list[Any]) -> list[str]:
    return [i.value["content"]["content"] for i in items]


def test_the_docs_example_answers_now_and_then(
    scripted_provider: None, capsys: pytest.CaptureFixture[str]
) -> None:
    scope: dict[str, Any] = {}
    exec(compile(block(REPO / "docs" / "time.md", "# Memory that knows when"), "time.md", "exec"), scope)  # fmt: skip
    assert contents(scope["now"]) == ["Ana lives in Porto"]
    assert contents(scope["in_march"]) == ["Ana lives in Lisbon"]
    assert capsys.readouterr().out.splitlines() == ["Ana lives in Porto", "Ana lives in Lisbon"]


def test_the_readme_example_answers_now_and_then(scripted_provider: None) -> None:
    code = block(REPO / "README.md", "## Memory that knows when")
    lines = code.strip().splitlines()
    # The block's last two lines are the two questions; keep their answers.
    code = "\n".join([*lines[:-2], f"now = {lines[-2].split('#')[0]}", f"then = {lines[-1].split('#')[0]}"])  # fmt: skip
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert contents(scope["now"]) == ["Ana lives in Porto"]
    assert contents(scope["then"]) == ["Ana lives in Lisbon"]
