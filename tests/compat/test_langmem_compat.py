"""Every public name of LangMem 0.0.30 (top level, knowledge, short_term, prompts) has a Reverie
counterpart with a compatible signature.

LangMem's side is data (``langmem_api.py``), written from a real LangMem install by
``python -m benchmarks.langmem_api --write`` and checked against it in the benchmark
environment (``benchmarks/langmem_env.sh``), so this test needs no LangMem.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.compat.api_shape import Problem, compare, describe
from tests.compat.langmem_api import LANGMEM

DOCS = Path(__file__).resolve().parents[2] / "docs" / "langmem-compatibility.md"

# Where a LangMem user imports each module's names from in Reverie.
REVERIE_MODULE = {
    "langmem": "reverie",
    "langmem.knowledge": "reverie",
    "langmem.short_term": "reverie.short_term",
    "langmem.prompts": "reverie.procedural",
    "langmem.prompts.optimization": "reverie.procedural",
    "langmem.prompts.types": "reverie.procedural.types",
    "langmem.prompts.gradient": "reverie.procedural",
    "langmem.prompts.metaprompt": "reverie.procedural",
}

_OWN_DEFAULT_PROMPT = "Reverie's own default prompt (shorter: every token is paid on every call)"
_REMOTE = (
    "Remote reflection on LangGraph Platform is not offered; Reverie's durable background "
    "processing is DurableReflectionExecutor + `reverie worker`"
)
# (name, parameter) -> why Reverie differs on purpose. Each is listed in the docs table.
DIFFERENCES: dict[tuple[str, str], str] = {
    ("create_memory_manager", "instructions"): _OWN_DEFAULT_PROMPT,
    ("create_memory_manager", "schemas"): "None stands for the default (Memory,)",
    ("create_memory_store_manager", "instructions"): _OWN_DEFAULT_PROMPT,
    ("create_manage_memory_tool", "instructions"): _OWN_DEFAULT_PROMPT,
    ("create_memory_searcher", "prompt"): _OWN_DEFAULT_PROMPT,
    ("create_thread_extractor", "instructions"): _OWN_DEFAULT_PROMPT,
    ("ReflectionExecutor", "namespace"): _REMOTE,
    ("ReflectionExecutor", "url"): _REMOTE,
    ("ReflectionExecutor", "client"): _REMOTE,
    ("ReflectionExecutor", "sync_client"): _REMOTE,
}

NAMES = [(module, name) for module, names in LANGMEM["api"].items() for name in names]


def reverie_counterpart(module: str, name: str) -> Any:
    home = importlib.import_module(REVERIE_MODULE[module])
    assert hasattr(home, name), f"{module}.{name} has no counterpart in {home.__name__}"
    return getattr(home, name)


def unexpected(name: str, problems: list[Problem]) -> list[Problem]:
    return [(param, what) for param, what in problems if (name, param) not in DIFFERENCES]


def test_the_data_is_langmem_0_0_30() -> None:
    assert LANGMEM["version"] == "0.0.30"
    assert set(LANGMEM["api"]) == set(REVERIE_MODULE)


@pytest.mark.parametrize(("module", "name"), NAMES, ids=[f"{m}.{n}" for m, n in NAMES])
def test_every_public_name_has_a_compatible_counterpart(module: str, name: str) -> None:
    theirs = LANGMEM["api"][module][name]
    ours = describe(reverie_counterpart(module, name))
    assert unexpected(name, compare(theirs, ours)) == []


@pytest.mark.parametrize("member", sorted(LANGMEM["members"]))
def test_manager_store_operations_are_compatible(member: str) -> None:
    owner, method = member.split(".")
    ours = describe(getattr(getattr(importlib.import_module("reverie"), owner), method))
    assert compare(LANGMEM["members"][member], ours) == []


def test_every_listed_difference_is_real() -> None:
    """A difference that no longer exists must leave the list (and the docs)."""
    found: set[tuple[str, str]] = set()
    for module, name in NAMES:
        problems = compare(
            LANGMEM["api"][module][name], describe(reverie_counterpart(module, name))
        )
        found.update((name, param) for param, _ in problems)
    assert set(DIFFERENCES) <= found


def test_the_docs_table_covers_every_name_and_difference() -> None:
    text = DOCS.read_text()
    for module, name in NAMES:
        assert re.search(rf"`{re.escape(module)}`[^\n]*`{re.escape(name)}`", text) or re.search(
            rf"`{re.escape(name)}`", text
        ), f"{module}.{name} is missing from {DOCS.name}"
    for member in LANGMEM["members"]:
        assert f"`{member.split('.')[1]}" in text, f"{member} is missing from {DOCS.name}"
    for name, param in DIFFERENCES:
        assert re.search(rf"`{name}`[^\n]*`{param}`", text), (
            f"the difference {name}({param}) is not explained in {DOCS.name}"
        )
