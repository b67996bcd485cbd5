"""A strict OpenAI-style check of a message list: what a provider rejects, this rejects."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage


class InvalidSequence(AssertionError):
    pass


def check_openai_sequence(messages: Sequence[BaseMessage]) -> None:
    """Every assistant message with tool calls is followed, before anything else, by exactly
    one tool result per call; every tool result answers a call of that assistant message."""
    waiting: set[str] = set()
    for index, message in enumerate(messages):
        if isinstance(message, ToolMessage):
            if message.tool_call_id not in waiting:
                raise InvalidSequence(
                    f"message {index}: tool result {message.tool_call_id!r} does not answer a "
                    "pending call of the preceding assistant message"
                )
            waiting.discard(message.tool_call_id)
            continue
        if waiting:
            raise InvalidSequence(
                f"message {index} ({message.type}) comes before the results of calls {sorted(waiting)}"
            )
        if isinstance(message, AIMessage) and message.tool_calls:
            ids = [str(call["id"]) for call in message.tool_calls]
            if len(set(ids)) != len(ids):
                raise InvalidSequence(f"message {index}: duplicate tool call ids {ids}")
            waiting = set(ids)
    if waiting:
        raise InvalidSequence(f"the list ends before the results of calls {sorted(waiting)}")
