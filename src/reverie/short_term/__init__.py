"""Short-term memory: keep a conversation within a token budget with a running summary.

LangMem's ``langmem.short_term`` API (``summarize_messages``, ``asummarize_messages``,
``SummarizationNode``, ``RunningSummary``, ``SummarizationResult``), without separating tool
calls from their results, dropping the latest human message or summarizing anything twice.
"""

from reverie.short_term.node import SummarizationNode
from reverie.short_term.summarize import asummarize_messages, summarize_messages
from reverie.short_term.types import RunningSummary, SummarizationResult

__all__ = [
    "RunningSummary",
    "SummarizationNode",
    "SummarizationResult",
    "asummarize_messages",
    "summarize_messages",
]
