"""Deciding what to summarize and what to keep: pure functions over the message list.

Three rules hold whatever the budgets say:

- **A tool call stays with its results.** The summarized part and the kept part are split only
  where every tool call before the split has all its results before it too, so neither the
  summarizer nor the next model call ever sees a tool result without its call (or a call
  without its results).
- **The latest human message is kept.** It is what the next reply answers; it is never
  summarized away, even when the tool exchanges after it are.
- **Each message is summarized once.** Messages the running summary covers are recognised by id
  (or by a content fingerprint when they have none) and never sent to the summarizer again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from reverie.short_term.types import RunningSummary

# Summary messages Reverie inserts carry ids with this prefix, so that when a caller writes the
# result back into its state (SummarizationNode with output key == input key) the old summary
# message is recognised and replaced by the running summary instead of being summarized again.
SUMMARY_ID_PREFIX = "reverie-summary-"

CountTokens = Callable[[BaseMessage], int]


@dataclass(frozen=True)
class Budget:
    """The three limits, as documented for ``summarize_messages``."""

    max_tokens: int
    before_summary: int
    summary_tokens: int


@dataclass
class Plan:
    """What one call does: summarize ``to_summarize`` (in ``groups``), then send ``kept``."""

    system: SystemMessage | None
    kept: list[AnyMessage]
    groups: list[list[AnyMessage]] = field(default_factory=list)
    summarized_keys: list[str] = field(default_factory=list)

    @property
    def to_summarize(self) -> list[AnyMessage]:
        return [m for group in self.groups for m in group]


def is_summary_message(message: BaseMessage) -> bool:
    return isinstance(message.id, str) and message.id.startswith(SUMMARY_ID_PREFIX)


def message_keys(messages: Sequence[BaseMessage]) -> list[str]:
    """Each message's id, or for a message without one a fingerprint of its content (numbered
    when the same content occurs again, so two "ok" replies stay distinct)."""
    keys: list[str] = []
    occurrences: dict[str, int] = {}
    for message in messages:
        if message.id:
            keys.append(str(message.id))
            continue
        content = json.dumps(
            [
                message.type,
                message.content,
                message.tool_calls if isinstance(message, AIMessage) else None,
                message.tool_call_id if isinstance(message, ToolMessage) else None,
            ],
            sort_keys=True,
            default=str,
        )
        digest = hashlib.blake2b(content.encode("utf-8", "replace"), digest_size=10).hexdigest()
        seen = occurrences.get(digest, 0)
        occurrences[digest] = seen + 1
        keys.append(f"fp:{digest}" if seen == 0 else f"fp:{digest}#{seen}")
    return keys


def valid_cuts(messages: Sequence[BaseMessage]) -> list[int]:
    """The positions ``c`` where ``messages[:c]`` and ``messages[c:]`` can be separated: no tool
    call before ``c`` waits for a result at or after it, and ``messages[c]`` is not a tool result.

    Calls left unanswered when the conversation moves on (already invalid for any provider) stop
    blocking at the next message that is not a tool result.
    """
    cuts: list[int] = []
    pending: set[str] = set()
    for position in range(len(messages) + 1):
        following = messages[position] if position < len(messages) else None
        if not pending and not isinstance(following, ToolMessage):
            cuts.append(position)
        if following is None:
            break
        if isinstance(following, ToolMessage):
            pending.discard(following.tool_call_id)
        else:
            calls = following.tool_calls if isinstance(following, AIMessage) else []
            pending = {str(call["id"]) for call in calls if call.get("id")}
    return cuts


def _latest_human(body: Sequence[BaseMessage]) -> int | None:
    for index in range(len(body) - 1, -1, -1):
        if isinstance(body[index], HumanMessage):
            return index
    return None


def _choose_cut(tokens: list[int], cuts: list[int], fixed: int, budget: Budget) -> int:
    """The first split after which the summarized part has reached ``before_summary`` tokens and
    the rest fits next to the summary; else the latest possible split (as much as can be
    summarized without breaking a rule)."""
    cut_set = set(cuts)
    prefix, suffix = 0, sum(tokens)
    for cut in range(1, len(tokens) + 1):
        prefix += tokens[cut - 1]
        suffix -= tokens[cut - 1]
        if (
            cut in cut_set
            and prefix >= budget.before_summary
            and fixed + suffix <= budget.max_tokens
        ):
            return cut
    return max(cuts)


def plan_summarization(
    messages: Sequence[AnyMessage],
    running: RunningSummary | None,
    budget: Budget,
    count: CountTokens,
) -> Plan:
    """Split ``messages`` into what to summarize now and what to send as they are."""
    body = list(messages)
    system: SystemMessage | None = None
    if body and isinstance(body[0], SystemMessage) and not is_summary_message(body[0]):
        system, body = body[0], body[1:]
    if running is not None:
        # The running summary replaces any summary message written back into the state.
        body = [m for m in body if not is_summary_message(m)]
    keys = message_keys(body)
    done = running.summarized_message_ids if running is not None else set()
    pinned = _latest_human(body)
    open_positions = [i for i, key in enumerate(keys) if key not in done or i == pinned]
    rest = [i for i in open_positions if i != pinned]
    tokens = {i: count(body[i]) for i in open_positions}
    unchanged = Plan(system, [body[i] for i in open_positions])
    if sum(tokens.values()) < budget.before_summary or not rest:
        return unchanged
    cuts = [c for c in valid_cuts([body[i] for i in rest]) if c > 0]
    if not cuts:
        return unchanged
    fixed = budget.summary_tokens + (count(system) if system is not None else 0)
    fixed += tokens[pinned] if pinned is not None else 0
    cut = _choose_cut([tokens[i] for i in rest], cuts, fixed, budget)
    summarized = rest[:cut]
    group_bounds = [0, *[c for c in valid_cuts([body[i] for i in summarized]) if c > 0]]
    groups = [
        [body[i] for i in summarized[start:end]]
        for start, end in zip(group_bounds, group_bounds[1:], strict=False)
    ]
    kept_positions = set(open_positions) - set(summarized)
    return Plan(
        system,
        [body[i] for i in sorted(kept_positions)],
        groups,
        [keys[i] for i in summarized],
    )


def round_end(
    groups: Sequence[Sequence[BaseMessage]], start: int, room: int, count: CountTokens
) -> int:
    """Where the summarizer call starting at ``groups[start]`` ends: as many whole groups as fit
    in ``room`` tokens, and always at least one (a single group larger than the room is sent
    alone rather than split)."""
    end, used = start, 0
    while end < len(groups):
        size = sum(count(m) for m in groups[end])
        if end > start and used + size > room:
            break
        used += size
        end += 1
    return end
