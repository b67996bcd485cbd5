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
from reverie.extraction.store_manager import (
    MemoryPhase,
    MemoryStoreManager,
    create_memory_store_manager,
)
from reverie.ledger.history import HistoryRecord
from reverie.tools import create_manage_memory_tool, create_search_memory_tool

__version__ = "0.1.0"

__all__ = [
    "CancelledSubmission",
    "ConfigurationError",
    "ConflictError",
    "ExtractedMemory",
    "HistoryRecord",
    "InputError",
    "Memory",
    "MemoryManager",
    "MemoryPhase",
    "MemoryStoreManager",
    "ModelOutputError",
    "NamespaceError",
    "NamespaceTemplate",
    "ProviderError",
    "ReflectionExecutor",
    "RemoveDoc",
    "ReverieError",
    "StoreError",
    "UnusableReplyError",
    "create_manage_memory_tool",
    "create_memory_manager",
    "create_memory_store_manager",
    "create_search_memory_tool",
]
