"""Which way a model is asked for memory operations, and how that choice adapts.

Modes, strongest first:

- ``tools``: native tool calling. ``tool_choice`` is always sent (OpenAI-compatible servers such
  as llama-cpp-python drop tools from a request without it): forced ("any", OpenAI's
  "required") with a ``no_changes`` tool to say "nothing", unless the model is known to take
  only ``"auto"``.
- ``json_schema``: structured output constrained by one JSON schema of the allowed calls.
- ``json``: JSON mode (any JSON object), the answer's shape described in the prompt.
- ``text``: no constraint at all; JSON is read out of the text leniently.

What a model can do comes from its LangChain ``profile`` (known hosted models say whether they
support tool calling, tool choice and structured output). For a model with no profile (a local
OpenAI-compatible server, a custom model) the automatic mode starts with forced tool calling and
moves down the list when a request is refused as unsupported or a reply comes back in prose;
the move is kept for the manager's later runs, and every run records the mode it used.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal, cast, get_args

from langchain_core.language_models import BaseChatModel

from reverie.core.errors import ConfigurationError

logger = logging.getLogger("reverie.extraction")

ModeName = Literal["tools", "json_schema", "json", "text"]
ExtractionMode = Literal["auto", "tools", "json_schema", "json", "text"]
MODE_NAMES: tuple[ModeName, ...] = get_args(ModeName)
OnUnusableReply = Literal["warn", "raise"]


@dataclass(frozen=True)
class Capabilities:
    """What the model's profile says; ``None`` where it says nothing."""

    tool_calling: bool | None = None
    tool_choice: bool | None = None
    structured_output: bool | None = None

    @classmethod
    def of(cls, model: BaseChatModel) -> Capabilities:
        profile = model.profile or {}

        def flag(key: Literal["tool_calling", "tool_choice", "structured_output"]) -> bool | None:
            value = profile.get(key)
            return value if isinstance(value, bool) else None

        return cls(flag("tool_calling"), flag("tool_choice"), flag("structured_output"))


def checked_mode(value: object, argument: str = "extraction_mode") -> ExtractionMode:
    if value not in get_args(ExtractionMode):
        raise ConfigurationError(
            f"{argument} must be one of {list(get_args(ExtractionMode))}, got {value!r}. "
            "'auto' picks the strongest mode the model supports."
        )
    return cast(ExtractionMode, value)


def checked_on_unusable(value: object) -> OnUnusableReply:
    if value not in get_args(OnUnusableReply):
        raise ConfigurationError(
            f"on_unusable_reply must be 'warn' (log and count) or 'raise', got {value!r}."
        )
    return cast(OnUnusableReply, value)


class ModePolicy:
    """The modes one model is tried in, in order, and the one in use; shared by the engines of
    one manager, so a mode found not to work is not tried again by its later runs or phases."""

    def __init__(
        self, model: BaseChatModel, requested: object = "auto", on_unusable_reply: object = "warn"
    ) -> None:
        self.requested = checked_mode(requested)
        self.on_unusable_reply = checked_on_unusable(on_unusable_reply)
        self.capabilities = Capabilities.of(model)
        self.force_tool_choice = self.capabilities.tool_choice is not False
        self.adaptive = self.requested == "auto"
        self.chain = self._chain()
        self._index = 0
        self._lock = threading.Lock()

    def _chain(self) -> list[ModeName]:
        if self.requested != "auto":
            return [self.requested]
        caps = self.capabilities
        if caps.tool_calling is False:
            start: ModeName = "json_schema" if caps.structured_output is not False else "json"
        else:
            start = "tools"
        return list(MODE_NAMES[MODE_NAMES.index(start) :])

    @property
    def current(self) -> ModeName:
        return self.chain[self._index]

    def advance(self, failed: ModeName, reason: str) -> bool:
        """Stop using ``failed``; True when another mode is left to try."""
        with self._lock:
            if self.chain[self._index] != failed:
                return True  # another run already moved on
            if not self.adaptive or self._index + 1 >= len(self.chain):
                return False
            self._index += 1
            logger.warning(
                "The model did not work in extraction mode %r (%s); using %r from now on. "
                "Pass extraction_mode=%r to start there.",
                failed,
                reason,
                self.current,
                self.current,
            )
            return True
