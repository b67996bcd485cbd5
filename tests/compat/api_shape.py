"""Describing a Python API as plain data, and comparing two such descriptions.

Used two ways: ``benchmarks/langmem_api.py`` describes an installed LangMem and writes (or checks)
``tests/compat/langmem_api.py``; ``test_langmem_compat.py`` describes Reverie's counterparts and
checks them against that written data, so CI needs no LangMem install.

A shape is JSON-like: ``{"kind": "callable", "params": [...]}``, ``{"kind": "typeddict", ...}``,
``{"kind": "namedtuple", ...}`` or ``{"kind": "dataclass", ...}``. A parameter is
``{"name", "kind", "default"}`` where ``default`` is None for required parameters, else a
description of the default value (see :func:`describe_default`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import typing
from collections.abc import Callable
from typing import Any

Shape = dict[str, Any]
Problem = tuple[str, str]
"""(parameter or field name, what is wrong); the name is "" for the shape as a whole."""

POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
KEYWORD = ("KEYWORD_ONLY", "POSITIONAL_OR_KEYWORD")


def describe_default(value: Any) -> dict[str, Any]:
    """A comparable description of a default value: the value itself when it is plain data,
    the qualified name of a function, else only its type (prompt templates, sentinels).

    Text with spaces (default prompts) is kept as a fingerprint only: equal texts compare
    equal, and no library's prompt wording is copied into this repository."""
    if isinstance(value, str) and " " in value:
        return {"prose": hashlib.sha256(value.encode()).hexdigest()[:16]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, tuple) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return {"value": list(value)}
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return {"callable": f"{value.__module__}.{value.__qualname__}"}
    kind = type(value)
    return {"type": f"{kind.__module__}.{kind.__qualname__}"}


def describe_callable(target: Callable[..., Any]) -> Shape:
    signature = inspect.signature(target)
    params = []
    for param in signature.parameters.values():
        if param.name == "self":
            continue
        params.append(
            {
                "name": param.name,
                "kind": param.kind.name,
                "default": (
                    None
                    if param.default is inspect.Parameter.empty
                    else describe_default(param.default)
                ),
            }
        )
    return {"kind": "callable", "params": params}


def _is_typeddict(target: Any) -> bool:
    return isinstance(target, type) and hasattr(target, "__required_keys__")


def _is_namedtuple(target: Any) -> bool:
    return isinstance(target, type) and issubclass(target, tuple) and hasattr(target, "_fields")


def describe(target: Any) -> Shape:
    """The shape of one public name."""
    if _is_typeddict(target):
        return {
            "kind": "typeddict",
            "keys": sorted(
                typing.get_type_hints(target, include_extras=False) or target.__annotations__
            ),
            "required": sorted(target.__required_keys__),
        }
    if _is_namedtuple(target):
        return {
            "kind": "namedtuple",
            "fields": list(target._fields),
            "defaults": {k: describe_default(v) for k, v in target._field_defaults.items()},
        }
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        return {
            "kind": "dataclass",
            "fields": [
                {
                    "name": f.name,
                    "required": f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING,
                }
                for f in dataclasses.fields(target)
            ],
        }
    if callable(target):
        return describe_callable(target)
    return {"kind": "value", "type": type(target).__qualname__}


def _compare_params(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    by_name = {p["name"]: (i, p) for i, p in enumerate(ours)}
    for index, param in enumerate(theirs):
        name = param["name"]
        if param["kind"] in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            if not any(p["kind"] == param["kind"] for p in ours):
                problems.append((name, f"no {param['kind']} parameter"))
            continue
        if name not in by_name:
            problems.append((name, "is missing"))
            continue
        our_index, mine = by_name[name]
        if param["kind"] in POSITIONAL and (mine["kind"] not in POSITIONAL or our_index != index):
            problems.append((name, f"must be positional at index {index}"))
        if param["kind"] in KEYWORD and mine["kind"] not in KEYWORD:
            problems.append((name, "must be accepted by keyword"))
        if param["default"] is not None:
            if mine["default"] is None:
                problems.append((name, "is required here but optional in LangMem"))
            elif param["default"] != mine["default"]:
                problems.append(
                    (name, f"defaults to {mine['default']} here, {param['default']} in LangMem")
                )
    known = {p["name"] for p in theirs}
    for mine in ours:
        if mine["name"] in known or mine["kind"] in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            continue
        if mine["default"] is None:
            problems.append((mine["name"], "is an extra parameter and must be optional"))
    return problems


def compare(theirs: Shape, ours: Shape) -> list[Problem]:
    """What a caller written for ``theirs`` would find wrong with ``ours`` (empty: compatible).

    Compatible means: every call that works with theirs works with ours (same parameter names
    and positions, optional stays optional, equal plain-data defaults), typed dicts have the
    same keys with the same required ones, named tuples and dataclasses the same fields.
    """
    if theirs["kind"] == "callable":
        if ours["kind"] != "callable":
            return [("", f"is a {ours['kind']}, LangMem's is callable")]
        return _compare_params(theirs["params"], ours["params"])
    if theirs["kind"] != ours["kind"]:
        return [("", f"is a {ours['kind']}, LangMem's is a {theirs['kind']}")]
    problems: list[Problem] = []
    if theirs["kind"] == "typeddict":
        missing = sorted(set(theirs["keys"]) - set(ours["keys"]))
        if missing:
            problems.append(("", f"missing keys {missing}"))
        if theirs["required"] != ours["required"]:
            problems.append(
                ("", f"required keys {ours['required']}, LangMem's {theirs['required']}")
            )
    elif theirs["kind"] == "namedtuple":
        if ours["fields"][: len(theirs["fields"])] != theirs["fields"]:
            problems.append(("", f"fields {ours['fields']}, LangMem's {theirs['fields']}"))
        for name, default in theirs["defaults"].items():
            if ours["defaults"].get(name) != default:
                problems.append((name, "default differs"))
    elif theirs["kind"] == "dataclass":
        mine = {f["name"]: f["required"] for f in ours["fields"]}
        for field in theirs["fields"]:
            if field["name"] not in mine:
                problems.append((field["name"], "is missing"))
            elif mine[field["name"]] and not field["required"]:
                problems.append((field["name"], "is required here"))
    return problems
