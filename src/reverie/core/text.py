"""Making text safe for every store backend, and quoting untrusted text in messages.

Text Reverie stores is normalised once, where it enters (a conversation, a model's reply, a tool
call, an import): NUL characters are removed (PostgreSQL cannot hold them, in text or JSON, and
they carry no meaning in prose) and lone surrogates, which no UTF-8 encoder accepts, become
``?``. Identifiers (namespace labels, keys) are never normalised, since two ids must not become
one: they are refused instead (``reverie.core.limits``).
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"


def clean_text(text: str) -> str:
    """``text`` without NUL characters and with lone surrogates replaced by ``?``."""
    if NUL in text:
        text = text.replace(NUL, "")
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


def is_clean(text: str) -> bool:
    """Whether ``text`` holds neither NUL characters nor lone surrogates."""
    if NUL in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8_size(text: str) -> int:
    """Bytes ``text`` takes in UTF-8 (a lone surrogate counts as the 3 bytes it would take)."""
    return len(text.encode("utf-8", "surrogatepass"))


def quoted(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters: untrusted ids and names quoted in an
    error message stay short however long they are (a long string also says its length)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[: limit - 5])[:-1] + f"...' ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def shortened(text: str, limit: int = 60) -> str:
    """``text`` as it is when short, else its start and its length (for ids quoted unquoted)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 5]}... ({len(text):,} characters)"


__all__ = ["NUL", "clean_json", "clean_text", "is_clean", "quoted", "shortened", "utf8_size"]
