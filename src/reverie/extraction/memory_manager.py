"""``create_memory_manager``: a stateless Runnable from (messages, existing memories) to memories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import InputError
from reverie.core.types import ExtractedMemory, RemoveDoc
from reverie.extraction.budget import chunk_messages
from reverie.extraction.engine import ExtractionEngine, RoundInput
from reverie.extraction.messages import normalize_messages, render_messages
from reverie.extraction.mode_policy import ExtractionMode, ModePolicy, OnUnusableReply
from reverie.extraction.models import resolve_chat_model
from reverie.extraction.prompts import DEFAULT_INSTRUCTIONS
from reverie.extraction.report import ReportedList, RunReport, reported
from reverie.extraction.schemas import Delete, Insert, Operation, SchemaToolkit, Update

DEFAULT_TOKEN_BUDGET = 6000


class MemoryManager(Runnable[dict[str, Any], list[ExtractedMemory]]):
    """Extracts, updates and (optionally) deletes memories; stores nothing itself."""

    def __init__(
        self,
        model: str | BaseChatModel,
        *,
        schemas: Sequence[type[BaseModel]] | None = None,
        instructions: str = DEFAULT_INSTRUCTIONS,
        enable_inserts: bool = True,
        enable_updates: bool = True,
        enable_deletes: bool = False,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        extraction_mode: ExtractionMode = "auto",
        on_unusable_reply: OnUnusableReply = "warn",
    ) -> None:
        self.model = resolve_chat_model(model)
        self.toolkit = SchemaToolkit(
            list(schemas) if schemas else None,
            enable_inserts=enable_inserts,
            enable_updates=enable_updates,
            enable_deletes=enable_deletes,
        )
        self.token_budget = token_budget
        self.engine = ExtractionEngine(
            self.model,
            self.toolkit,
            instructions,
            memory_budget_tokens=token_budget // 3,
            policy=ModePolicy(self.model, extraction_mode, on_unusable_reply),
        )

    @property
    def schemas(self) -> list[type[BaseModel]]:
        return list(self.toolkit.schemas.values())

    def _existing(self, raw: Any) -> list[tuple[str, BaseModel]]:
        if raw is None:
            return []
        if not isinstance(raw, (list, tuple)):
            raise InputError(
                "'existing' must be a list of strings, (id, value) or (id, kind, value) tuples."
            )
        existing: list[tuple[str, BaseModel]] = []
        for entry in raw:
            if isinstance(entry, str):
                existing.append((str(uuid.uuid4()), self.toolkit.coerce(None, entry)))
            elif isinstance(entry, ExtractedMemory):
                existing.append((entry.id, self.toolkit.coerce(None, entry.content)))
            elif isinstance(entry, (tuple, list)) and len(entry) == 2:
                existing.append((str(entry[0]), self.toolkit.coerce(None, entry[1])))
            elif isinstance(entry, (tuple, list)) and len(entry) == 3:
                existing.append((str(entry[0]), self.toolkit.coerce(str(entry[1]), entry[2])))
            else:
                raise InputError(
                    f"Cannot read existing memory {entry!r:.100}: use a string, (id, value) "
                    "or (id, kind, value)."
                )
        return existing

    def _rounds(self, input: dict[str, Any]) -> tuple[list[tuple[str, BaseModel]], list[list[str]]]:
        if not isinstance(input, dict):
            raise InputError(
                f"Input must be a dict {{'messages': [...], 'existing': [...]}}, got {type(input).__name__}."
            )
        existing = self._existing(input.get("existing"))
        raw_messages = input.get("messages")
        messages = normalize_messages(raw_messages) if raw_messages else []
        rendered = render_messages(messages)
        room = self.token_budget - self.token_budget // 3 - self.engine.fixed_tokens
        chunks = chunk_messages(rendered, max(room, 100))
        return existing, [[m.line for m in chunk] for chunk in chunks] or ([[]] if existing else [])

    @staticmethod
    def _apply(
        memories: dict[str, BaseModel],
        aliases: dict[str, str],
        operations: list[Operation],
        changed: dict[str, BaseModel | None],
    ) -> None:
        for op in operations:
            if isinstance(op, Insert):
                new_id = str(uuid.uuid4())
                memories[new_id] = op.content
                changed[new_id] = op.content
            elif isinstance(op, Update):
                target = aliases[op.alias]
                memories[target] = op.content
                changed[target] = op.content
            elif isinstance(op, Delete):
                target = aliases[op.alias]
                memories.pop(target, None)
                changed[target] = None

    def _round_input(
        self, memories: dict[str, BaseModel], lines: list[str]
    ) -> tuple[RoundInput, dict[str, str]]:
        aliases = {str(i + 1): key for i, key in enumerate(memories)}
        shown = [(alias, memories[key]) for alias, key in aliases.items()]
        return RoundInput(shown=shown, context_lines=[], new_lines=lines), aliases

    @staticmethod
    def _result(changed: dict[str, BaseModel | None]) -> list[ExtractedMemory]:
        return [
            ExtractedMemory(key, content if content is not None else RemoveDoc(json_doc_id=key))
            for key, content in changed.items()
        ]

    def _pipeline(
        self, input: dict[str, Any], config: RunnableConfig | None
    ) -> Pipeline[ReportedList[ExtractedMemory]]:
        existing, chunks = self._rounds(input)
        memories = dict(existing)
        changed: dict[str, BaseModel | None] = {}
        report = RunReport()
        for lines in chunks:
            round_input, aliases = self._round_input(memories, lines)
            operations = yield from self.engine.round(round_input, config, report)
            self._apply(memories, aliases, operations, changed)
        return reported(self._result(changed), report)

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> ReportedList[ExtractedMemory]:
        """The memories inserted, updated or removed; ``.report`` says how the run went."""
        return run(self._pipeline(input, config))

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> ReportedList[ExtractedMemory]:
        return await arun(self._pipeline(input, config))


def create_memory_manager(
    model: str | BaseChatModel,
    /,
    *,
    schemas: Sequence[type[BaseModel]] | None = None,
    instructions: str = DEFAULT_INSTRUCTIONS,
    enable_inserts: bool = True,
    enable_updates: bool = True,
    enable_deletes: bool = False,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    extraction_mode: ExtractionMode = "auto",
    on_unusable_reply: OnUnusableReply = "warn",
) -> MemoryManager:
    """Create a stateless memory manager.

    Input ``{"messages": [...], "existing": [...]}`` (existing as strings, ``(id, value)`` or
    ``(id, kind, value)``); output the memories it inserted or updated as ``ExtractedMemory``
    (and ``RemoveDoc`` entries for deletions when ``enable_deletes``).

    ``extraction_mode`` ("auto", "tools", "json_schema", "json" or "text") says how the model is
    asked for operations; ``on_unusable_reply="raise"`` raises ``UnusableReplyError`` for a
    reply no operation can be read from (default: a warning). See docs/models/README.md.
    """
    return MemoryManager(
        model,
        schemas=schemas,
        instructions=instructions,
        enable_inserts=enable_inserts,
        enable_updates=enable_updates,
        enable_deletes=enable_deletes,
        token_budget=token_budget,
        extraction_mode=extraction_mode,
        on_unusable_reply=on_unusable_reply,
    )
