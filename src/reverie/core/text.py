"""Making text safe for every store backend."""

from __future__ import annotations

from typing import Any


def clean_text(text: str) -> str:
    """Replace lone surrogates and other unencodable characters so every backend can store the text."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def clean_json(value: Any) -> Any:
    """``clean_text`` applied to every string (keys included) inside JSON-like data."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_json(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value
