"""Contradictory changes to one stored memory within one round of extraction.

A reply may ask to update a memory and to forget it, or to update it twice with different
content. Applied in order, the last call would win: an update followed by a forget would delete
a memory the model also meant to keep, and which content wins would depend on call order. So
every call of the reply that changes such a memory is rejected like any other invalid call: the
model is told which memory and which changes, and asked once to send one change (the
correction). Calls that agree (the same update twice, a memory forgotten twice) are no conflict.

A change in the correction reply that contradicts a change already accepted from the first
reply is rejected too (the model was told accepted calls are applied), and there is no further
correction: a memory whose changes still contradict each other is kept as stored, and the run's
report says so (``rejected_calls``, ``warnings``). Nothing stored is lost to a contradiction,
and no content is chosen by guessing which call the model meant. A round is one reply and its
correction; a later round (a phase, the next chunk) is shown the result and may change it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel

from reverie.extraction.schemas import (
    FORGET_TOOL,
    AcceptedCall,
    Delete,
    Operation,
    ParsedReply,
    Update,
)

_LISTED = 3  # changes quoted per memory: a reply with hundreds cannot flood the correction


def reject_conflicts(
    reply: ParsedReply,
    settled: Sequence[Operation],
    *,
    stored: Mapping[str, str],
    render: Callable[[BaseModel], str],
    deletes: bool,
) -> None:
    """Move the calls of ``reply`` that contradict each other, or an operation in ``settled``
    (accepted earlier in the round), from its accepted calls to its errors. ``stored`` gives the
    shown memories' text by alias, to name them; ``render`` a content's text."""
    changes: dict[str, dict[str, Update | Delete]] = {}  # alias -> distinct changes, in order
    for op in [*settled, *reply.operations]:
        if isinstance(op, (Update, Delete)):  # a new memory has nothing stored to contradict
            changes.setdefault(op.alias, {}).setdefault(_key(op), op)
    contradicted = {alias for alias, distinct in changes.items() if len(distinct) > 1}
    if not contradicted:
        return
    # A settled change is one the model was told is applied; it stays, whatever contradicts it.
    already = {
        op.alias: op
        for op in settled
        if isinstance(op, (Update, Delete)) and op.alias in contradicted
    }
    kept: list[AcceptedCall] = []
    for call in reply.calls:
        mine = _changes_by_alias(call)
        touched = [
            alias
            for alias, ops in mine.items()
            if alias in contradicted
            # repeating the accepted change is no contradiction
            and not (alias in already and set(ops) == {_key(already[alias])})
        ]
        if not touched:
            kept.append(call)
            continue
        sentences = []
        for alias in touched:
            name = f"Memory {alias}{_stored(stored, alias)}"
            if alias in already:
                asked = "; ".join(_describe(op, render) for op in mine[alias].values())
                sentences.append(
                    f"{name} was already changed by an accepted call "
                    f"({_describe(already[alias], render)}); this call ({asked}) contradicts "
                    "it and was not applied."
                )
                continue
            distinct = list(changes[alias].values())
            listed = ", ".join(_describe(op, render) for op in distinct[:_LISTED])
            if len(distinct) > _LISTED:
                listed += f" and {len(distinct) - _LISTED} more"
            how = "an update with its full new content"
            if deletes:
                how += f" or {FORGET_TOOL}"
            sentences.append(
                f"{name}: this reply changes it in contradictory ways ({listed}), so none of "
                "these changes was applied and it is kept as stored. Make at most one change "
                f"per memory: send one call for it ({how}), or none to keep it."
            )
        others = [alias for alias in mine if alias not in touched]
        if others:  # only a forget call names several memories
            more = ", ..." if len(others) > _LISTED else ""
            sentences.append(
                f"This call's other ids ({', '.join(others[:_LISTED])}{more}) were not "
                f"forgotten either; call {FORGET_TOOL} again for them if still meant."
            )
        reply.errors.append((call.call_id, " ".join(sentences)))
    reply.calls = kept


def _changes_by_alias(call: AcceptedCall) -> dict[str, dict[str, Update | Delete]]:
    """alias -> the call's distinct changes to that memory."""
    found: dict[str, dict[str, Update | Delete]] = {}
    for op in call.operations:
        if isinstance(op, (Update, Delete)):
            found.setdefault(op.alias, {}).setdefault(_key(op), op)
    return found


def _key(op: Update | Delete) -> str:
    """Equal for changes that agree: two forgets, or two updates to the same content."""
    if isinstance(op, Delete):
        return "forget"
    dumped = json.dumps(op.content.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return f"update {type(op.content).__name__} {dumped}"


def _describe(op: Operation, render: Callable[[BaseModel], str]) -> str:
    if isinstance(op, Delete):
        return FORGET_TOOL
    return f"update to {_quoted(render(op.content))}"


def _stored(stored: Mapping[str, str], alias: str) -> str:
    text = stored.get(alias)
    return f" ({_quoted(text)})" if text is not None else ""


def _quoted(text: str, limit: int = 80) -> str:
    """Bounded, so one huge memory cannot flood the correction prompt or the report."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")
