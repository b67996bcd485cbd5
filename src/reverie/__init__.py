"""Reverie: long-term memory for LLM agents, compatible with LangMem's background memory API.

The public names below are imported on first use (PEP 562), so ``import reverie`` and the
``reverie`` command start without loading LangGraph's runtime, LangSmith and the model code a
command such as ``reverie list`` never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reverie.core.errors import (
    ConfigurationError,
    ConflictError,
    FilterError,
    InputError,
    LimitError,
    ModelOutputError,
    NamespaceError,
    ProviderError,
    ReverieError,
    StoreError,
    UnstorableValueError,
    UnusableReplyError,
)
from reverie.core.limits import Limits

if TYPE_CHECKING:
    from reverie.core.indexing import EpisodeFields, IndexFields, RankingOptions
    from reverie.core.namespace import NamespaceTemplate
    from reverie.core.types import ExtractedMemory, Memory, RemoveDoc
    from reverie.executor import CancelledSubmission, ReflectionExecutor
    from reverie.extraction.memory_manager import MemoryManager, create_memory_manager
    from reverie.extraction.searcher import MemorySearcher, create_memory_searcher
    from reverie.extraction.store_manager import (
        MemoryPhase,
        MemoryStoreManager,
        create_memory_store_manager,
    )
    from reverie.extraction.thread_extractor import (
        SummarizeThread,
        ThreadExtractor,
        create_thread_extractor,
    )
    from reverie.ledger.erase import Erased, aforget_user, forget_user
    from reverie.ledger.history import HistoryRecord
    from reverie.ledger.search import SearchOptions
    from reverie.ledger.time_search import TimeQuery, Version
    from reverie.procedural import (
        AnnotatedTrajectory,
        Prompt,
        PromptRegistry,
        PromptVersion,
        create_multi_prompt_optimizer,
        create_prompt_optimizer,
    )
    from reverie.retrieval.rerank import (
        CompressorReranker,
        LLMReranker,
        Reranker,
        ScoreReranker,
    )
    from reverie.tools import create_manage_memory_tool, create_search_memory_tool

__version__ = "0.1.0"

# Public name -> the module that defines it.
_LAZY = {
    "EpisodeFields": "reverie.core.indexing",
    "IndexFields": "reverie.core.indexing",
    "RankingOptions": "reverie.core.indexing",
    "SearchOptions": "reverie.ledger.search",
    "CompressorReranker": "reverie.retrieval.rerank",
    "LLMReranker": "reverie.retrieval.rerank",
    "Reranker": "reverie.retrieval.rerank",
    "ScoreReranker": "reverie.retrieval.rerank",
    "NamespaceTemplate": "reverie.core.namespace",
    "ExtractedMemory": "reverie.core.types",
    "Memory": "reverie.core.types",
    "RemoveDoc": "reverie.core.types",
    "CancelledSubmission": "reverie.executor",
    "ReflectionExecutor": "reverie.executor",
    "MemoryManager": "reverie.extraction.memory_manager",
    "create_memory_manager": "reverie.extraction.memory_manager",
    "MemorySearcher": "reverie.extraction.searcher",
    "create_memory_searcher": "reverie.extraction.searcher",
    "MemoryPhase": "reverie.extraction.store_manager",
    "MemoryStoreManager": "reverie.extraction.store_manager",
    "create_memory_store_manager": "reverie.extraction.store_manager",
    "SummarizeThread": "reverie.extraction.thread_extractor",
    "ThreadExtractor": "reverie.extraction.thread_extractor",
    "create_thread_extractor": "reverie.extraction.thread_extractor",
    "Erased": "reverie.ledger.erase",
    "aforget_user": "reverie.ledger.erase",
    "forget_user": "reverie.ledger.erase",
    "HistoryRecord": "reverie.ledger.history",
    "TimeQuery": "reverie.ledger.time_search",
    "Version": "reverie.ledger.time_search",
    "AnnotatedTrajectory": "reverie.procedural",
    "Prompt": "reverie.procedural",
    "PromptRegistry": "reverie.procedural",
    "PromptVersion": "reverie.procedural",
    "create_multi_prompt_optimizer": "reverie.procedural",
    "create_prompt_optimizer": "reverie.procedural",
    "create_manage_memory_tool": "reverie.tools",
    "create_search_memory_tool": "reverie.tools",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reverie' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ScoreReranker",
    "Reranker",
    "LLMReranker",
    "CompressorReranker",
    "SearchOptions",
    "RankingOptions",
    "IndexFields",
    "EpisodeFields",
    "AnnotatedTrajectory",
    "CancelledSubmission",
    "ConfigurationError",
    "ConflictError",
    "Erased",
    "ExtractedMemory",
    "FilterError",
    "HistoryRecord",
    "InputError",
    "LimitError",
    "Limits",
    "Memory",
    "MemoryManager",
    "MemoryPhase",
    "MemorySearcher",
    "MemoryStoreManager",
    "ModelOutputError",
    "NamespaceError",
    "NamespaceTemplate",
    "Prompt",
    "PromptRegistry",
    "PromptVersion",
    "ProviderError",
    "ReflectionExecutor",
    "RemoveDoc",
    "ReverieError",
    "StoreError",
    "TimeQuery",
    "Version",
    "SummarizeThread",
    "ThreadExtractor",
    "UnstorableValueError",
    "UnusableReplyError",
    "aforget_user",
    "create_manage_memory_tool",
    "create_memory_manager",
    "create_memory_searcher",
    "create_memory_store_manager",
    "create_multi_prompt_optimizer",
    "create_prompt_optimizer",
    "create_search_memory_tool",
    "create_thread_extractor",
    "forget_user",
]
