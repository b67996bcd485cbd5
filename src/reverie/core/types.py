"""Memory value types and the shapes that cross Reverie's public boundary."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from reverie.core.values import normalised_value


class Memory(BaseModel):
    """Record one durable fact, preference, or event about the user or their world.

    Write a short, self-contained statement that still makes sense without the conversation.
    """

    content: str = Field(description="The memory, as one self-contained statement.")


class ExtractedMemory(NamedTuple):
    """A memory produced or kept by a memory manager.

    ``content`` is an instance of one of the manager's schemas; ``RemoveDoc`` marks a deletion.
    """

    id: str
    content: BaseModel


class RemoveDoc(BaseModel):
    """Marks a memory the model asked to delete (only emitted when deletes are enabled)."""

    json_doc_id: str = Field(description="Id of the memory to delete.")


def stored_value(content: BaseModel) -> dict[str, Any]:
    """The value Reverie writes to a store for one memory: ``{"kind": ..., "content": {...}}``,
    normalised by the value policy (``reverie.core.values``): models sometimes emit NUL
    characters or lone surrogates, which not every backend can store, and NaN or Infinity in a
    float field raise ``UnstorableValueError`` naming the field."""
    return {
        "kind": type(content).__name__,
        "content": normalised_value(content.model_dump(mode="json"), "content"),
    }
