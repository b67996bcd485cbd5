"""The default prompts of the summarizer (each may be replaced by the caller's own template).

Variables: ``messages`` (the messages to summarize, or to keep), ``existing_summary`` (the
summary so far, when extending it), ``summary`` and ``system_message`` (the final prompt).
"""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate

FIRST_SUMMARY_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("placeholder", "{messages}"),
        (
            "user",
            "Summarize the conversation above. Keep every fact, decision, open question and "
            "tool result a later reply may need; leave out pleasantries.",
        ),
    ]
)

EXTEND_SUMMARY_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("placeholder", "{messages}"),
        (
            "user",
            "Summary of the earlier conversation:\n{existing_summary}\n\nRewrite that summary so "
            "it also covers the messages above, keeping everything a later reply may need.",
        ),
    ]
)

FINAL_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("placeholder", "{system_message}"),
        ("system", "Summary of the earlier conversation: {summary}"),
        ("placeholder", "{messages}"),
    ]
)

# The variables each prompt may use; anything else could not be filled and is refused up front.
FIRST_SUMMARY_VARIABLES = frozenset({"messages"})
EXTEND_SUMMARY_VARIABLES = frozenset({"messages", "existing_summary"})
FINAL_VARIABLES = frozenset({"messages", "summary", "system_message"})
