"""The export file: one JSON item a line (``reverie export``), and reading one back for
``reverie import`` under the limits and the value policy.

An import file is read line by line, each line at most ``Limits.max_import_line_bytes``, so a
huge or hostile file is refused at its first oversized line without reading it whole. Every
line is checked before anything is written: namespaces and keys against the identifier limits,
memories against ``max_value_bytes``, and every value through the value policy (text
normalised; NaN or Infinity refused). One bad line stops the import with its line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from langgraph.store.base import Item
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from reverie.cli.naming import is_bookkeeping
from reverie.core.errors import InputError, LimitError, ReverieError
from reverie.core.limits import Limits, check_value_size
from reverie.core.requests import check_target
from reverie.core.values import normalised_value, unstorable_fields

NOTHING = "Nothing was imported."


class ExportRecord(BaseModel):
    """One line of an export file: everything needed to put the item back exactly."""

    model_config = ConfigDict(extra="forbid")

    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @field_validator("namespace")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        if not labels or any(not label or "." in label for label in labels):
            raise ValueError("namespace must be a non-empty list of labels without dots")
        return labels

    @classmethod
    def of(cls, item: Item) -> ExportRecord:
        return cls(
            namespace=list(item.namespace),
            key=item.key,
            value=item.value,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )

    def to_item(self) -> Item:
        return Item(
            namespace=tuple(self.namespace),
            key=self.key,
            value=self.value,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def read_export(stream: IO[bytes], source: str, limits: Limits) -> list[Item]:
    """Every item of an export file, checked; an :class:`InputError` (a :class:`LimitError`
    for an oversized line) naming the first bad line otherwise."""
    return [_item(line, number, source, limits) for number, line in _lines(stream, source, limits)]


def _lines(stream: IO[bytes], source: str, limits: Limits) -> Iterator[tuple[int, str]]:
    most = limits.max_import_line_bytes
    number = 0
    while True:
        raw = stream.readline(most + 1)
        if not raw:
            return
        number += 1
        if len(raw) > most and not (len(raw) == most + 1 and raw.endswith(b"\n")):
            raise LimitError(
                f"{source} line {number} is over {most:,} bytes (Limits.max_import_line_bytes; "
                f"REVERIE_MAX_IMPORT_LINE_BYTES). {NOTHING}",
                limit_name="max_import_line_bytes",
                limit=most,
                size=len(raw),
            )
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source} line {number} is not UTF-8 text. {NOTHING}") from None
        if line.strip():
            yield number, line


def _item(line: str, number: int, source: str, limits: Limits) -> Item:
    try:
        # Python's parser, which reads what other writers may put there (lone surrogate
        # escapes, NaN); the value policy below decides what is kept.
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{source} line {number} is not valid JSON ({exc}). {NOTHING}") from None
    try:
        record = ExportRecord.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "line"
        raise InputError(
            f"{source} line {number} is not an exported memory ({where}: {problem['msg']}). "
            + NOTHING
        ) from exc
    try:
        check_target(record.namespace, record.key, limits)
        value = normalised_value(record.value, "value")
        if not is_bookkeeping(record.namespace):
            check_value_size(value, limits, "This memory")
    except ReverieError as exc:
        raise InputError(f"{source} line {number}: {exc} {NOTHING}") from exc
    record.value = value
    return record.to_item()


def exported_line(item: Item) -> tuple[str, list[str]]:
    """The JSON line of ``item``, and the fields JSON had to write as null (NaN, Infinity)."""
    return ExportRecord.of(item).model_dump_json(), unstorable_fields(item.value, numbers_only=True)
