"""How the command line writes namespaces, stores and memories as text: pure functions, cheap
to import (``reverie --help`` loads nothing else)."""

from __future__ import annotations

from typing import Any

from reverie.core.errors import NamespaceError
from reverie.core.namespace import RESERVED_ROOT, NamespaceTemplate
from reverie.stores import default_target

DEFAULT_NAMESPACE = "memories/{langgraph_user_id}"
DEFAULT_USER = "default"
BOOKKEEPING_ROOT = RESERVED_ROOT


def describe_target(target: str | None) -> str:
    """How the user would recognise the store: its path or URL (without a password)."""
    where = target or default_target()
    if "://" in where and "@" in where:
        scheme, rest = where.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return where


def parse_namespace(text: str, user: str = DEFAULT_USER) -> tuple[str, ...]:
    """``"memories/{langgraph_user_id}"`` -> ``("memories", user)``; labels are separated by '/'."""
    labels = [label for label in text.strip().strip("/").split("/")]
    if not text.strip() or any(not label for label in labels):
        raise NamespaceError(
            f"Namespace {text!r} is not valid. "
            "Write labels separated by '/', e.g. 'memories/alice'."
        )
    return NamespaceTemplate(labels)({"configurable": {"langgraph_user_id": user, "user": user}})


def format_namespace(namespace: tuple[str, ...] | list[str]) -> str:
    return "/".join(namespace)


def is_bookkeeping(namespace: tuple[str, ...] | list[str]) -> bool:
    """Reverie's own bookkeeping (thread progress, history) lives under ``__reverie__``."""
    return bool(namespace) and namespace[0] == BOOKKEEPING_ROOT


def memory_text(value: dict[str, Any]) -> str:
    """The readable text of a stored value, whichever writer produced it."""
    content = value.get("content", value)
    if isinstance(content, dict):
        text = content.get("content")
        if isinstance(text, str):
            return text
        return ", ".join(f"{k}={v}" for k, v in content.items())
    return str(content)
