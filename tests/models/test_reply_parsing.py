"""Lenient reading of calls written as text: every shape models are seen to use."""

from __future__ import annotations

import pytest

from reverie.extraction.reply_parsing import read_calls

NAMES = ["Memory", "forget"]


def calls(text: str) -> list[tuple[str, dict]]:
    found = read_calls(text, NAMES, default_name="Memory", id_prefix="t")
    return [(c["name"], c["args"]) for c in found.calls]


LIKES_DOGS = ("Memory", {"content": "User likes dogs"})


@pytest.mark.parametrize(
    "text",
    [
        '{"calls": [{"name": "Memory", "arguments": {"content": "User likes dogs"}}]}',
        '[{"name": "Memory", "arguments": {"content": "User likes dogs"}}]',
        '<tool_call>\n{"name": "Memory", "arguments": {"content": "User likes dogs"}}\n</tool_call>',
        '```json\n{"name": "Memory", "parameters": {"content": "User likes dogs"}}\n```',
        'Sure! I will remember: {"name": "memory", "args": {"content": "User likes dogs"}} Done.',
        '{"type": "function", "function": {"name": "Memory", "arguments": "{\\"content\\": \\"User likes dogs\\"}"}}',
        '{"Memory": {"content": "User likes dogs"}}',
        '{"content": "User likes dogs"}',
        '<think>The user has a dog {"x": 1}</think>{"name": "Memory", "content": "User likes dogs"}',
    ],
    ids=["envelope", "list", "tags", "fence", "prose", "openai", "keyed", "bare", "think"],
)
def test_every_written_form_of_a_call_is_read(text: str) -> None:
    assert calls(text) == [LIKES_DOGS]


def test_only_ids_is_a_forget() -> None:
    assert calls('{"ids": ["2"]}') == [("forget", {"ids": ["2"]})]


@pytest.mark.parametrize("text", ['{"calls": []}', "{}", "[]", "```json\n[]\n```"])
def test_an_empty_answer_is_json_with_no_calls(text: str) -> None:
    found = read_calls(text, NAMES, default_name="Memory", id_prefix="t")
    assert found.found_json and found.empty


@pytest.mark.parametrize(
    "text", ["", "Fido is a lovely name!", "memory [1] is about cats", '");\n', "<think>{}</think>"]
)
def test_prose_holds_no_json(text: str) -> None:
    found = read_calls(text, NAMES, default_name="Memory", id_prefix="t")
    assert not found.found_json and found.empty


def test_broken_json_is_reported_not_dropped() -> None:
    found = read_calls(
        '```json\n{"name": "Memory", "arguments": {"content": \n```',
        NAMES,
        default_name="Memory",
        id_prefix="t",
    )
    assert found.found_json and not found.calls
    assert "not valid JSON" in found.errors[0][1]


def test_arguments_that_are_not_json_become_invalid_calls() -> None:
    found = read_calls(
        '{"name": "Memory", "arguments": "{content: dogs"}',
        NAMES,
        default_name="Memory",
        id_prefix="t",
    )
    assert found.invalid and found.invalid[0]["name"] == "Memory"


def test_non_objects_in_a_list_are_rejected_with_the_shape_to_use() -> None:
    found = read_calls("[1, 2]", NAMES, default_name="Memory", id_prefix="t")
    assert [msg for _, msg in found.errors][0].startswith("1 is not a call")
