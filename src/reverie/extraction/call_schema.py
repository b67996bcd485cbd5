"""The memory tools as one JSON answer: ``{"calls": [{"name": ..., "arguments": {...}}]}``.

Models without tool calling answer in this shape. Under JSON-schema constrained decoding the
schema is built per call: an update's ``memory_id`` and a forget's ``ids`` are enums of the ids
actually shown, so the decoder cannot produce an id that does not exist, and a tool that has
nothing to act on (no memory shown) is left out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from reverie.core.errors import ConfigurationError
from reverie.extraction import prompts
from reverie.extraction.schemas import FORGET_TOOL, MEMORY_ID, SchemaToolkit

SCHEMA_TITLE = "memory_calls"
# A cap on calls per reply: keeps a looping decoder from running to the token limit.
MAX_CALLS = 16


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " | ".join(_type_of(p) for p in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"{_type_of(prop.get('items', {}))}[]"
    return str(kind)


def signature(parameters: dict[str, Any]) -> str:
    """``content: string, memory_id?: string``: arguments in a few tokens."""
    required = set(parameters.get("required", []))
    return ", ".join(
        f"{name}{'' if name in required else '?'}: {_type_of(prop)}"
        for name, prop in parameters.get("properties", {}).items()
    )


def tool_lines(toolkit: SchemaToolkit) -> list[str]:
    """One line per tool: ``- name(arguments): description``."""
    lines = []
    for tool in toolkit.tools:
        function = tool["function"]
        description = " ".join(function["description"].split())
        lines.append(f"- {function['name']}({signature(function['parameters'])}): {description}")
        for name, nested in function["parameters"].get("$defs", {}).items():
            lines.append(f"  {name}: {json.dumps(nested, separators=(',', ':'))}")
    return lines


def format_instructions(toolkit: SchemaToolkit) -> str:
    return prompts.answer_format(tool_lines(toolkit))


def _ordered(shown: set[str]) -> list[str]:
    return sorted(shown, key=lambda a: (len(a), a))  # "2" before "10"


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": arguments},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def calls_schema(toolkit: SchemaToolkit, shown: set[str] | None) -> dict[str, Any]:
    """The JSON schema of an answer; ``shown=None`` leaves ids unconstrained (JSON mode)."""
    ids = _ordered(shown) if shown is not None else None
    defs: dict[str, Any] = {}
    variants: list[dict[str, Any]] = []
    for tool in toolkit.tools:
        name = tool["function"]["name"]
        arguments = copy.deepcopy(tool["function"]["parameters"])
        for key, value in arguments.pop("$defs", {}).items():
            if key in defs and defs[key] != value:
                raise ConfigurationError(
                    f"Two memory schemas define different nested models named {key!r}; rename "
                    "one so the JSON answer schema can hold both."
                )
            defs[key] = value
        properties = arguments.setdefault("properties", {})
        if name == FORGET_TOOL:
            if ids == []:
                continue  # nothing shown, nothing to forget
            if ids is not None:
                properties["ids"] = {
                    "type": "array",
                    "items": {"type": "string", "enum": ids},
                    "minItems": 1,
                }
        elif MEMORY_ID in properties and ids is not None:
            if ids:
                properties[MEMORY_ID] = {**properties[MEMORY_ID], "enum": ids}
            elif not toolkit.enable_inserts:
                continue  # updates only, and nothing shown to update
            else:
                del properties[MEMORY_ID]
        arguments.setdefault("additionalProperties", False)
        variants.append(_call(name, arguments))
    calls: dict[str, Any] = {"type": "array", "maxItems": MAX_CALLS if variants else 0}
    if variants:
        calls["items"] = variants[0] if len(variants) == 1 else {"anyOf": variants}
    schema: dict[str, Any] = {
        "title": SCHEMA_TITLE,
        "description": "Memory operations: the calls to make, none if nothing is worth keeping.",
        "type": "object",
        "properties": {"calls": calls},
        "required": ["calls"],
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema
