"""What a summarization returns and what it carries from one call to the next."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import AnyMessage


@dataclass
class RunningSummary:
    """The summary so far and which messages it covers; pass it to the next call.

    ``summarized_message_ids`` holds the id of every message the summary covers (a content
    fingerprint for messages without an id), so each message is summarized exactly once however
    the caller passes the conversation back: the whole history again, or only what is left.
    """

    summary: str
    """The text of the summary, extended each time more messages are summarized."""

    summarized_message_ids: set[str]
    """Ids (or fingerprints) of every message the summary covers."""

    last_summarized_message_id: str | None
    """Id (or fingerprint) of the newest message the summary covers."""


@dataclass
class SummarizationResult:
    """The messages to send to the model next, and the running summary to keep."""

    messages: list[AnyMessage]
    """The system prompt (if any), the summary message (if any), then the messages kept."""

    running_summary: RunningSummary | None = None
    """None until something has been summarized; afterwards the (possibly unchanged) summary."""


__all__ = ["RunningSummary", "SummarizationResult"]
