"""The README's quickstart block, run as written: only the providers behind the model strings
are replaced by a scripted chat model and deterministic embeddings (no network here)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's quickstart section has no python block"
    return match.group(1)


def respond(request: ScriptedRequest) -> Any:
    if request.tools:  # the memory manager's extraction call
        if "Fido" in request.text:
            return [
                tool_call("Memory", {"content": "User likes dogs"}),
                tool_call("Memory", {"content": "User has a dog named Fido"}),
            ]
        return AIMessage(content="")
    return "Fido is a lovely name for a dog!"  # the agent's own reply


async def test_the_readme_quickstart_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import langchain.chat_models
    import langchain.embeddings

    models: list[ScriptedChatModel] = []

    def init_chat_model(spec: str, **_: Any) -> ScriptedChatModel:
        assert spec == "anthropic:claude-3-5-sonnet-latest"
        models.append(ScriptedChatModel(responder=respond))
        return models[-1]

    def init_embeddings(spec: str, **_: Any) -> HashingEmbeddings:
        assert spec == "openai:text-embedding-3-small"
        return HashingEmbeddings(1536)

    monkeypatch.setattr(langchain.chat_models, "init_chat_model", init_chat_model)
    monkeypatch.setattr(langchain.embeddings, "init_embeddings", init_embeddings)

    code = compile(quickstart_block(), str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    scope: dict[str, Any] = {}
    pending = eval(code, scope)  # a coroutine: the block ends with a top-level await
    if pending is not None:
        await pending
    scope["executor"].shutdown(wait=True)

    items = scope["store"].search(("memories", "alice"))
    assert sorted(i.value["content"]["content"] for i in items) == [
        "User has a dog named Fido",
        "User likes dogs",
    ]
    assert all(i.value["kind"] == "Memory" for i in items)
    assert len(models) == 2  # the agent's model and the memory manager's
