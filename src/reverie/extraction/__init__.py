"""Extraction and consolidation: turning conversations into memory operations."""
