"""``reverie stats --since ... --price ...``: what memory runs did and cost, through the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reverie.cli import models
from reverie.cli.app import app
from reverie.cli.usage_view import parse_price, parse_since
from reverie.core.errors import ConfigurationError
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.interfaces.test_cli import CONVERSATION, cli, ok, one_line_error, write_json


def flat(text: str) -> str:
    return " ".join(text.split())


def test_stats_prints_the_usage_and_its_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def composer(request: ScriptedRequest) -> dict:
        return tool_call("Memory", {"content": "User's favourite composer is Sibelius"})

    model = ScriptedChatModel(responder=composer, model_name="gpt-test")
    monkeypatch.setattr(models, "load_chat_model", lambda spec: model)
    runner, store = CliRunner(), tmp_path / "m.db"
    env = {"REVERIE_EMBEDDINGS": "hashing", "REVERIE_MODEL": "openai:gpt-test"}
    file = write_json(tmp_path / "c.json", CONVERSATION)
    ok(runner.invoke(app, ["--store", str(store), "ingest", str(file), "-u", "ana"], env=env))
    ok(runner.invoke(app, ["--store", str(store), "ingest", str(file), "-u", "bo"], env=env))
    (first, second) = model.calls
    tokens_in = first.input_tokens + second.input_tokens
    tokens_out = first.output_tokens + second.output_tokens

    out = flat(ok(cli(runner, store, "stats", "--since", "7d", "--price", "gpt-test=1000,2000")))
    assert "2 memories in 2 namespaces" in out
    assert (
        f"2 runs (0 failed), 2 model calls, {tokens_in:,} input + {tokens_out:,} output tokens"
        in out
    )
    assert "memories +2 inserted, ~0 updated, >0 superseded, -0 deleted" in out
    cost = (tokens_in * 1000 + tokens_out * 2000) / 1e6
    assert f"Cost: ${cost:,.4f}." in out
    day = r"\d{4}-\d\d-\d\d"
    assert re.search(rf"{day} │ 2 │ 0 │ 2 │ {tokens_in:,} │ {tokens_out:,} │ 2 │ 0 │ 0 │ 0 │", out)

    one = flat(ok(cli(runner, store, "stats", "-n", "memories/ana", "--since", "2000-01-01")))
    assert f"1 run (0 failed), 1 model call, {first.input_tokens:,} input" in one
    unpriced = flat(ok(cli(runner, store, "stats", "--price", "other=1,1")))
    assert "Cost: $0.0000 (no --price for gpt-test: not counted)." in unpriced
    later = flat(ok(cli(runner, store, "stats", "--since", "2999-01-01")))
    assert "No memory runs since 2999-01-01 (UTC)." in later
    assert "No memory run of job 7 is recorded" in flat(
        ok(cli(runner, store, "stats", "--job", "7"))
    )


def test_stats_without_runs_says_nothing_about_usage(tmp_path: Path) -> None:
    runner, store = CliRunner(), tmp_path / "m.db"
    ok(cli(runner, store, "ingest", str(write_json(tmp_path / "c.json", CONVERSATION))))
    assert "Memory runs" not in ok(cli(runner, store, "stats"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "--since 'last week' is not understood"),
        (
            ["--price", "gpt-test=1"],
            "--price 'gpt-test=1' is not understood: write MODEL=INPUT,OUTPUT",
        ),
        (["--price", "=1,2"], "is not understood"),
        (["--price", "m=-1,2"], "is not understood"),
    ],
)
def test_bad_since_and_price_are_one_line_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    assert message in one_line_error(cli(CliRunner(), tmp_path / "m.db", "stats", *args))


def test_since_and_price_parse() -> None:
    from datetime import date, datetime, timezone

    now = datetime(2026, 3, 20, 10, tzinfo=timezone.utc)
    assert parse_since("7d", now) == date(2026, 3, 13)
    assert parse_since("24h", now) == date(2026, 3, 19)
    assert parse_since("2w", now) == date(2026, 3, 6)
    assert parse_since("2026-01-31", now) == date(2026, 1, 31)
    assert parse_since("today", now) == date(2026, 3, 20)
    price = parse_price("gpt-4.1-mini=0.40,1.60")
    assert price.model == "gpt-4.1-mini" and price.cost(1_000_000, 500_000) == pytest.approx(1.2)
    with pytest.raises(ConfigurationError):
        parse_price("gpt=a,b")
