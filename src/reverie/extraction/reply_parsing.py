"""Reading memory calls out of a model's text: the last resort for models without tool calling.

Models that cannot call tools still often write the calls: as a bare JSON object or list, in a
code fence, inside ``<tool_call>`` tags (Hermes/Qwen templates), or as ``{"calls": [...]}``
when asked to. Everything found here becomes an ordinary tool call (``name``, ``args``, ``id``)
and is validated by ``SchemaToolkit.parse`` exactly like a native one; only the finding is
lenient.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_TAGGED = re.compile(
    r"<(tool_call|tool_calls|function_call)>\s*(.*?)\s*(?:</\1>|$)", re.DOTALL | re.IGNORECASE
)
_FENCED = re.compile(r"```[ \t]*(?:json|JSON|jsonc)?[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
ENVELOPE_KEYS = ("calls", "tool_calls", "operations", "function_calls")
_NAME_KEYS = ("name", "tool", "tool_name", "function")
_ARG_KEYS = ("arguments", "args", "parameters", "input")
_NOT_ARGS = {"name", "tool", "tool_name", "type", "id"}


@dataclass
class TextCalls:
    """Calls found in a reply's text, and what could not be read as one."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)  # arguments that are not JSON
    errors: list[tuple[str, str]] = field(default_factory=list)  # (call id, why)
    found_json: bool = False  # the reply held JSON at all: an answer in the asked-for form

    @property
    def empty(self) -> bool:
        return not (self.calls or self.invalid or self.errors)


def json_values(text: str) -> tuple[list[Any], list[str]]:
    """JSON values in ``text`` and the snippets that were meant as JSON but do not parse."""
    text = _THINK.sub("", text).strip()
    if not text:
        return [], []
    marked = [m.group(2) for m in _TAGGED.finditer(text)] or [
        m.group(1) for m in _FENCED.finditer(text)
    ]
    if marked:
        values, broken = [], []
        for snippet in marked:
            try:
                values.append(json.loads(snippet))
            except json.JSONDecodeError:
                broken.append(snippet)
        return values, broken
    try:
        return [json.loads(text)], []
    except json.JSONDecodeError:
        return list(_embedded_objects(text)), []


def _embedded_objects(text: str) -> Iterable[Any]:
    """Top-level JSON objects (or lists of objects) inside prose, left to right."""
    decoder = json.JSONDecoder()
    index = 0
    while True:
        starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            yield value
        index = end


def read_calls(
    text: str, tool_names: Iterable[str], *, default_name: str | None, id_prefix: str
) -> TextCalls:
    """Every call written in ``text``; ``default_name`` names calls that give arguments only."""
    values, broken = json_values(text)
    return calls_in(
        values, tool_names, default_name=default_name, id_prefix=id_prefix, broken=broken
    )


def calls_in(
    values: list[Any],
    tool_names: Iterable[str],
    *,
    default_name: str | None,
    id_prefix: str,
    broken: list[str] | None = None,
) -> TextCalls:
    """Every call in already-decoded JSON ``values`` (e.g. a structured-output result)."""
    names = list(tool_names)
    broken = broken or []
    found = TextCalls(found_json=bool(values or broken))
    counter = iter(range(1, 10_000))
    for snippet in broken:
        found.errors.append(
            (
                f"{id_prefix}{next(counter)}",
                f"This is not valid JSON: {snippet[:80]!r}. Write each call as "
                '{"name": <tool>, "arguments": {...}}.',
            )
        )
    for value in values:
        for item in _items(value, names):
            _read_item(item, names, default_name, f"{id_prefix}{next(counter)}", found)
    return found


def _items(value: Any, names: list[str]) -> list[Any]:
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return [value]
    for key in ENVELOPE_KEYS:
        if isinstance(value.get(key), list):
            return list(value[key])
    if not value:
        return []  # {}: an answer with nothing in it
    if all(key in names for key in value):  # {"Memory": {...}, "forget": {...}}
        items = []
        for name, args in value.items():
            for one in args if isinstance(args, list) else [args]:
                items.append({"name": name, "arguments": one})
        return items
    return [value]


def _canonical(name: Any, names: list[str]) -> Any:
    if not isinstance(name, str) or name in names:
        return name
    for known in names:
        if known.lower() == name.strip().lower():
            return known
    return name


def _read_item(
    item: Any, names: list[str], default_name: str | None, call_id: str, found: TextCalls
) -> None:
    if not isinstance(item, dict):
        found.errors.append(
            (
                call_id,
                f"{json.dumps(item)[:80]} is not a call. Write each call as "
                '{"name": <tool>, "arguments": {...}}.',
            )
        )
        return
    if isinstance(item.get("function"), dict):  # OpenAI's {"type": "function", "function": {...}}
        item = {**item["function"], "id": item.get("id")}
    name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
    args = next((item[k] for k in _ARG_KEYS if k in item), None)
    if args is None:  # {"name": "Memory", "content": ...} or just {"content": ...}
        args = {k: v for k, v in item.items() if k not in _NOT_ARGS}
    if name is None:
        only_ids = isinstance(args, dict) and set(args) == {"ids"} and "forget" in names
        name = "forget" if only_ids else default_name
    if isinstance(item.get("id"), str) and item["id"]:
        call_id = item["id"]
    name = _canonical(name, names)
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError as exc:
            found.invalid.append({"name": name, "args": args, "id": call_id, "error": exc.msg})
            return
    found.calls.append({"name": name, "args": args, "id": call_id, "type": "tool_call"})
