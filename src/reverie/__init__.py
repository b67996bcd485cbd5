"""Reverie: long-term memory for LLM agents, compatible with LangMem's background memory API."""

from reverie.core.errors import (
    ConfigurationError,
    ConflictError,
    InputError,
    ModelOutputError,
    NamespaceError,
    ProviderError,
    ReverieError,
    StoreError,
    UnusableReplyError,
)
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
from reverie.ledger.time_search import TimeQuery, Version
from reverie.procedural import (
    AnnotatedTrajectory,
    Prompt,
    PromptRegistry,
    PromptVersion,
    create_multi_prompt_optimizer,
    create_prompt_optimizer,
)
from reverie.tools import create_manage_memory_tool, create_search_memory_tool

__version__ = "0.1.0"

__all__ = [
    "AnnotatedTrajectory",
    "CancelledSubmission",
    "ConfigurationError",
    "ConflictError",
    "Erased",
    "ExtractedMemory",
    "HistoryRecord",
    "InputError",
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
