"""Memory schemas offered to the model as tools, and the parsing of its tool calls into operations.

Each schema becomes one tool named after the schema (its docstring is the description). An optional
``memory_id`` argument turns a call into an update of a memory the model was shown; a ``forget``
tool deletes. Ids shown to the model are short aliases ("1", "2", ...) that only this call knows,
so the model can never address a memory it was not shown.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from reverie.core.empty import is_empty
from reverie.core.errors import ConfigurationError, LimitError, UnstorableValueError
from reverie.core.limits import DEFAULT_LIMITS, Limits, check_value_size
from reverie.core.types import Memory, stored_value

MEMORY_ID = "memory_id"
FORGET_TOOL = "forget"


@dataclass(frozen=True)
class Insert:
    content: BaseModel


@dataclass(frozen=True)
class Update:
    alias: str
    content: BaseModel


@dataclass(frozen=True)
class Delete:
    alias: str


Operation = Insert | Update | Delete


@dataclass(frozen=True)
class AcceptedCall:
    """A valid call and its operations (a forget of several ids is several operations): a call
    is accepted or rejected whole, as the correction request tells the model."""

    call_id: str
    operations: tuple[Operation, ...]


@dataclass
class ParsedReply:
    calls: list[AcceptedCall] = field(default_factory=list)
    # (tool_call_id, message) for every call that was rejected.
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def operations(self) -> list[Operation]:
        return [op for call in self.calls for op in call.operations]

    @property
    def accepted_ids(self) -> list[str]:
        return [call.call_id for call in self.calls]


def _strip_titles(node: Any) -> Any:
    """Pydantic adds a "title" to every property; the model does not need them (fewer tokens)."""
    if isinstance(node, dict):
        return {
            k: _strip_titles(v)
            for k, v in node.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def _description(schema: type[BaseModel]) -> str:
    doc = inspect.getdoc(schema)
    if not doc or schema.__doc__ is BaseModel.__doc__:
        return f"Record a {schema.__name__}."
    return doc.strip()


class SchemaToolkit:
    """Tool definitions and call validation for one manager's schemas; built once per manager."""

    def __init__(
        self,
        schemas: list[type[BaseModel]] | tuple[type[BaseModel], ...] | None,
        *,
        enable_inserts: bool,
        enable_updates: bool,
        enable_deletes: bool,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        schemas = list(schemas) if schemas else [Memory]
        for schema in schemas:
            if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
                raise ConfigurationError(
                    f"schemas must be pydantic BaseModel classes, got {schema!r}. "
                    "Define e.g. `class Memory(BaseModel): content: str`."
                )
        names = [s.__name__ for s in schemas]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"Schema names must be unique, got {names}.")
        if enable_deletes and FORGET_TOOL in names:
            raise ConfigurationError(f"A schema may not be named {FORGET_TOOL!r}: it is reserved.")
        if not (enable_inserts or enable_updates or enable_deletes):
            raise ConfigurationError(
                "Enable at least one of inserts, updates or deletes, or the manager can do nothing."
            )
        self.schemas = {s.__name__: s for s in schemas}
        self.enable_inserts = enable_inserts
        self.enable_updates = enable_updates
        self.enable_deletes = enable_deletes
        self.limits = limits
        self.tools = self._build_tools()
        self.tools_chars = len(json.dumps(self.tools, separators=(",", ":")))

    @property
    def single_default_schema(self) -> bool:
        return list(self.schemas.values()) == [Memory]

    def _build_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        if self.enable_inserts or self.enable_updates:
            for name, schema in self.schemas.items():
                parameters = _strip_titles(schema.model_json_schema())
                parameters.pop("description", None)
                properties = dict(parameters.get("properties", {}))
                required = list(parameters.get("required", []))
                if self.enable_updates:
                    hint = "stored memory id to replace"
                    if self.enable_inserts:
                        hint += "; omit for a new memory"
                    properties[MEMORY_ID] = {"type": "string", "description": hint}
                    if not self.enable_inserts:
                        required.append(MEMORY_ID)
                parameters["properties"] = properties
                if required:
                    parameters["required"] = required
                tools.append(
                    {
                        "type": "function",
                        "function": {
                            "name": name,
                            "description": _description(schema),
                            "parameters": parameters,
                        },
                    }
                )
        if self.enable_deletes:
            tools.append(
                {
                    "type": "function",
                    "function": {
                        "name": FORGET_TOOL,
                        "description": "Delete stored memories that are wrong, obsolete or duplicated.",
                        "parameters": {
                            "type": "object",
                            "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
                            "required": ["ids"],
                        },
                    },
                }
            )
        return tools

    def render_content(self, content: BaseModel) -> str:
        if isinstance(content, Memory):
            text = content.content
        else:
            text = json.dumps(content.model_dump(mode="json"), ensure_ascii=False)
        if self.single_default_schema:
            return text
        return f"{type(content).__name__} {text}"

    def coerce(self, kind: str | None, value: Any) -> BaseModel:
        """Turn a stored or user-supplied value into an instance of one of the schemas."""
        if isinstance(value, BaseModel):
            return value
        if kind in self.schemas:
            return self.schemas[kind].model_validate(value)
        if isinstance(value, str) and "Memory" in self.schemas:
            return Memory(content=value)
        errors = []
        for schema in self.schemas.values():
            try:
                return schema.model_validate(value)
            except ValidationError as exc:
                errors.append(str(exc))
        raise ConfigurationError(
            f"Value {value!r:.200} matches none of the schemas {list(self.schemas)}."
        )

    def parse(
        self, tool_calls: list[dict[str, Any]], invalid_calls: list[dict[str, Any]], shown: set[str]
    ) -> ParsedReply:
        """Validate every tool call; only calls that name shown ids and enabled actions survive."""
        reply = ParsedReply()
        for bad in invalid_calls:
            reply.errors.append(
                (
                    bad.get("id") or "",
                    f"Arguments of {_short(bad.get('name'))} are not valid JSON ({bad.get('error') or 'parse error'}). "
                    "Send the call again with a JSON object as arguments.",
                )
            )
        for call in tool_calls:
            call_id = call.get("id") or ""
            try:
                reply.calls.append(AcceptedCall(call_id, tuple(self._parse_call(call, shown))))
            except _Rejected as rejected:
                reply.errors.append((call_id, str(rejected)))
        return reply

    def _parse_call(self, call: dict[str, Any], shown: set[str]) -> list[Operation]:
        name = call.get("name")
        args = call.get("args")
        if not isinstance(args, dict):
            raise _Rejected(f"Arguments of {_short(name)} must be a JSON object.")
        if name == FORGET_TOOL and self.enable_deletes:
            ids = args.get("ids")
            if isinstance(ids, str):
                ids = [ids]
            if not isinstance(ids, list) or not ids:
                raise _Rejected("forget needs 'ids': a list of memory ids shown to you.")
            unknown = [str(i) for i in ids if str(i) not in shown]
            if unknown:
                quoted = ", ".join(_short(u) for u in unknown[:10])
                raise _Rejected(
                    f"Unknown memory ids [{quoted}]; only these ids exist: {sorted(shown) or 'none'}."
                )
            return [Delete(str(i)) for i in ids]
        schema = self.schemas.get(name or "")
        if schema is None or not (self.enable_inserts or self.enable_updates):
            allowed = [t["function"]["name"] for t in self.tools]
            raise _Rejected(f"There is no tool {_short(name)}. Available tools: {allowed}.")
        args = dict(args)
        memory_id = args.pop(MEMORY_ID, None)
        if memory_id in ("", None):
            memory_id = None
        try:
            content = schema.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise _Rejected(f"Arguments do not match {name}: {problems}.") from None
        value = self._check_storable(content)
        if is_empty(value["content"]):
            raise _Rejected(self._empty(str(name), updating=memory_id is not None))
        if memory_id is None:
            if not self.enable_inserts:
                raise _Rejected(
                    f"Adding new memories is disabled; pass {MEMORY_ID} of a memory shown to you."
                )
            return [Insert(content)]
        memory_id = str(memory_id)
        if not self.enable_updates:
            raise _Rejected(f"Updating memories is disabled; call {name} without {MEMORY_ID}.")
        if memory_id not in shown:
            raise _Rejected(
                f"Unknown {MEMORY_ID} {_short(memory_id)}; only these ids exist: {sorted(shown) or 'none'}. "
                f"Omit {MEMORY_ID} to add a new memory."
            )
        return [Update(memory_id, content)]

    def _check_storable(self, content: BaseModel) -> dict[str, Any]:
        """The value policy and size limit, applied per call: one memory that cannot be stored
        is rejected (and sent back for correction) while the reply's other memories are kept.
        Returns the value as it would be stored."""
        try:
            value = stored_value(content)
            check_value_size(value, self.limits)
        except UnstorableValueError as exc:
            raise _Rejected(
                f"{exc.field.removeprefix('content.')} must be a finite number (not NaN or "
                "Infinity); send the call again "
                "with a number or leave the field out."
            ) from None
        except LimitError as exc:
            raise _Rejected(
                f"This memory is {exc.size:,} bytes; a memory may have at most {exc.limit:,}. "
                "Keep only what is worth remembering, or split it into several memories."
            ) from None
        return value

    def _empty(self, name: str, *, updating: bool) -> str:
        # Empty content over a stored memory would wipe it; say how to delete it if that was meant.
        message = (
            f"The memory is empty: {_short(name)} needs text to remember (NUL characters and "
            "whitespace alone are not text)."
        )
        if not updating:
            return f"{message} Send the call again with the text, or leave the call out."
        message += " The stored memory was kept; send the call again with its new text"
        if self.enable_deletes:
            message += f", or call {FORGET_TOOL} to delete it"
        return message + "."


class _Rejected(Exception):
    pass


def _short(value: Any, limit: int = 60) -> str:
    """A model-supplied name or id as quoted in a rejection: bounded, so a huge one cannot flood
    the correction prompt or the logs."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"
