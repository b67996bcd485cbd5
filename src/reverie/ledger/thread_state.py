"""Per-thread progress ("watermark") kept in the memory store itself.

It lets a manager that is handed the whole thread again send the model only what is new, and it
survives restarts and works across workers because it lives in the same store as the memories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from reverie.core.namespace import RESERVED_ROOT as STATE_ROOT

MAX_FINGERPRINTS = 5000
# Context messages are only there to resolve references ("she", "that trip"); their first few
# hundred characters do that, and the rest was consolidated already.
CONTEXT_LINE_CHARS = 300
CUT_MARK = " […]"


class Rendered(Protocol):
    """A message as the model saw it, with the fingerprint that identifies it in its thread."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def line(self) -> str: ...


M = TypeVar("M", bound=Rendered)


def context_line(line: str, chars: int = CONTEXT_LINE_CHARS) -> str:
    """Shorten an already-processed message for the context window, marking the cut."""
    return line if len(line) <= chars else line[:chars].rstrip() + CUT_MARK


def state_namespace(namespace: tuple[str, ...]) -> tuple[str, ...]:
    # Outside the memories' own prefix so that searching ("memories",) never returns bookkeeping.
    return (STATE_ROOT, "threads", *namespace)


@dataclass
class ThreadState:
    seen: list[str] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)
    # How many of the thread's oldest fingerprints were trimmed from ``seen`` to bound its size.
    dropped: int = 0

    @classmethod
    def from_value(cls, value: dict[str, Any] | None) -> ThreadState:
        if not isinstance(value, dict):
            return cls()
        seen = value.get("seen")
        recent = value.get("recent")
        dropped = value.get("dropped")
        return cls(
            seen=[s for s in seen if isinstance(s, str)] if isinstance(seen, list) else [],
            recent=[s for s in recent if isinstance(s, str)] if isinstance(recent, list) else [],
            dropped=dropped if isinstance(dropped, int) and dropped > 0 else 0,
        )

    def to_value(self) -> dict[str, Any]:
        return {"seen": self.seen, "recent": self.recent, "dropped": self.dropped}

    def split(self, rendered: Sequence[M], context_size: int) -> tuple[list[M], list[str]]:
        """Return (new messages, context lines).

        The already-processed part is the longest prefix of the input whose messages were all seen;
        everything from the first unseen message on is new. This handles both callers that pass the
        whole thread every time and callers that pass only the latest exchange.
        """
        seen = set(self.seen)
        start = 0
        if (
            self.dropped
            and self.seen
            and len(rendered) > self.dropped
            and rendered[self.dropped].fingerprint == self.seen[0]
        ):
            # The whole thread was passed again and its oldest messages are no longer remembered
            # one by one: they are exactly the ``dropped`` ones before the oldest remembered.
            start = self.dropped
        while start < len(rendered) and rendered[start].fingerprint in seen:
            start += 1
        new = list(rendered[start:])
        context = [context_line(m.line) for m in rendered[max(0, start - context_size) : start]]
        if len(context) < context_size:
            missing = context_size - len(context)
            context = [line for line in self.recent[-missing:] if line not in context] + context
        return new, context[-context_size:] if context_size else []

    def advance(self, processed: Sequence[Rendered], context_size: int) -> None:
        self.seen.extend(m.fingerprint for m in processed)
        excess = len(self.seen) - MAX_FINGERPRINTS
        if excess > 0:
            self.seen = self.seen[excess:]
            self.dropped += excess
        if context_size:
            lines = self.recent + [context_line(m.line) for m in processed]
            self.recent = lines[-context_size:]
