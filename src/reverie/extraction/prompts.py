"""The words Reverie sends the model. Kept short on purpose: every token here is paid on every call."""

from __future__ import annotations

DEFAULT_INSTRUCTIONS = (
    "You maintain long-term memory about the user. From the new conversation, record durable facts, "
    "preferences, plans, relationships and events worth recalling later. Skip small talk and what "
    "is already stored. One short standalone statement per memory."
)


NONE_BY_NO_CALLS = "Make all calls at once; none if nothing is worth remembering."
NONE_BY_ESCAPE_TOOL = "Make all calls at once; if nothing is worth remembering, call only {tool}."
NONE_BY_EMPTY_LIST = "Make all calls at once; an empty list if nothing is worth remembering."


def protocol(
    *, inserts: bool, updates: bool, deletes: bool, when_nothing: str = NONE_BY_NO_CALLS
) -> str:
    """How to express changes; only the enabled actions are mentioned."""
    lines = []
    if inserts:
        lines.append("- New information: call a memory tool without memory_id.")
    if updates:
        lines.append(
            "- Changed or more complete information: call it with the stored memory's memory_id and "
            "the full new content."
        )
    if deletes:
        lines.append(
            "- Stored memories that are contradicted or obsolete: call forget with their ids."
        )
    lines.append(when_nothing)
    return "\n".join(lines)


def system_prompt(
    instructions: str,
    *,
    inserts: bool,
    updates: bool,
    deletes: bool,
    when_nothing: str = NONE_BY_NO_CALLS,
) -> str:
    return (
        instructions.strip()
        + "\n\n"
        + protocol(inserts=inserts, updates=updates, deletes=deletes, when_nothing=when_nothing)
    )


def answer_format(tool_lines: list[str]) -> str:
    """For models answering in JSON instead of tool calls: the tools, and the one JSON shape."""
    return (
        "Tools:\n"
        + "\n".join(tool_lines)
        + '\n\nReply with JSON only, no other text: {"calls": [{"name": "<tool>", "arguments": '
        '{...}}, ...]}, or {"calls": []} if nothing is worth remembering.'
    )


DATES_HINT = (
    "Write dates as absolute dates: resolve 'yesterday', 'next month' and the like from it."
)


def user_prompt(
    memory_lines: list[str],
    context_lines: list[str],
    new_lines: list[str],
    dates: str | None = None,
) -> str:
    parts = [f"{dates} {DATES_HINT}"] if dates and new_lines else []
    if memory_lines:
        parts.append("Stored memories:\n" + "\n".join(memory_lines))
    else:
        parts.append("Stored memories: none")
    if context_lines:
        parts.append("Earlier (already processed):\n" + "\n".join(context_lines))
    if new_lines:
        parts.append("New conversation:\n" + "\n".join(new_lines))
    else:
        parts.append("New conversation: none; review the stored memories.")
    return "\n\n".join(parts)


RETRY_TEXT_TOOLS = (
    "Accepted calls are already applied. Send corrected calls for the rejected ones only, "
    "or no calls to skip them."
)

RETRY_TEXT_JSON = (
    "Accepted calls are already applied. Reply with JSON only: corrected calls for the "
    'rejected ones, or {"calls": []} to skip them.'
)

RETRY_PROMPT = (
    "Some calls were rejected (see the tool results). Accepted calls are already applied. "
    "Send corrected calls for the rejected ones only, or no calls to skip them."
)

QUERY_PROMPT = (
    "Write search queries, one search_memory call each, for stored memories relevant to this "
    "conversation:\n\n{conversation}"
)

QUERY_TOOL = {
    "type": "function",
    "function": {
        "name": "search_memory",
        "description": "Search stored memories.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}
