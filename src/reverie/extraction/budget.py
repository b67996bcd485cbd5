"""Fitting conversation and memories into a per-call token budget."""

from __future__ import annotations

from reverie.extraction.messages import RenderedMessage, estimate_tokens

TRUNCATION_NOTE = " […message truncated: {omitted} characters omitted]"


def truncate_line(line: str, max_tokens: int) -> str:
    """Cut one over-long message, saying so, rather than silently dropping its end."""
    if estimate_tokens(line) <= max_tokens:
        return line
    keep = max(max_tokens * 4 - 60, 40)
    return line[:keep] + TRUNCATION_NOTE.format(omitted=len(line) - keep)


def chunk_messages(messages: list[RenderedMessage], max_tokens: int) -> list[list[RenderedMessage]]:
    """Split new messages into consecutive chunks that each fit ``max_tokens``.

    Nothing is dropped: a long conversation becomes several consolidation rounds, and only a single
    message larger than the whole budget is shortened (with a note in its text).
    """
    chunks: list[list[RenderedMessage]] = []
    current: list[RenderedMessage] = []
    used = 0
    for message in messages:
        line = truncate_line(message.line, max_tokens)
        if line is not message.line:
            message = RenderedMessage(message.fingerprint, line)
        cost = message.tokens
        if current and used + cost > max_tokens:
            chunks.append(current)
            current, used = [], 0
        current.append(message)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def fit_lines(lines: list[str], max_tokens: int) -> list[str]:
    """Keep lines in the given (priority) order while they fit the budget."""
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = estimate_tokens(line)
        if used + cost > max_tokens:
            break
        kept.append(line)
        used += cost
    return kept
