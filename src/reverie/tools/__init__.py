"""Memory tools for agents: manage and search memories in the hot path of a conversation."""

from reverie.tools.manage import create_manage_memory_tool
from reverie.tools.search import create_search_memory_tool

__all__ = ["create_manage_memory_tool", "create_search_memory_tool"]
