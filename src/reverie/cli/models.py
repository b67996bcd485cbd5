"""Which chat model a command uses: ``--model`` or ``REVERIE_MODEL``, as "provider:model"."""

from __future__ import annotations

import os
from typing import Any

from reverie.core.errors import ConfigurationError

MODEL_ENV = "REVERIE_MODEL"
MODE_ENV = "REVERIE_EXTRACTION_MODE"
# OpenAI-compatible local servers (llama.cpp, vLLM, Ollama, LM Studio) need no key, but the
# OpenAI client refuses to start without one.
LOCAL_SERVER_KEY = "not-needed"
HOW_TO_CONFIGURE = (
    "Set REVERIE_MODEL to a 'provider:model' name (e.g. REVERIE_MODEL=openai:gpt-4.1-mini with "
    "OPENAI_API_KEY set), or point OPENAI_BASE_URL at any OpenAI-compatible server and set "
    "REVERIE_MODEL=openai:<its model name>. The provider's LangChain package must be installed "
    "(e.g. pip install langchain-openai)."
)


def configured_model(explicit: str | None = None) -> str | None:
    """The model spec the user chose, or None when no model is configured."""
    spec = explicit if explicit is not None else os.environ.get(MODEL_ENV)
    spec = (spec or "").strip()
    return spec or None


def configured_extraction_mode() -> str:
    """``REVERIE_EXTRACTION_MODE`` (auto, tools, json_schema, json or text); ``auto`` if unset."""
    return (os.environ.get(MODE_ENV) or "auto").strip() or "auto"


def load_chat_model(spec: str) -> Any:
    """A LangChain chat model for ``spec``; configuration problems become one clear error.

    Every command that needs a model gets it here, so replacing this function (e.g. with
    pytest's ``monkeypatch``) runs the CLI against any chat model, such as a scripted one.
    """
    from langchain.chat_models import init_chat_model

    options: dict[str, Any] = {}
    if (
        spec.startswith("openai:")
        and os.environ.get("OPENAI_BASE_URL")
        and not os.environ.get("OPENAI_API_KEY")
    ):
        options["api_key"] = LOCAL_SERVER_KEY
    try:
        return init_chat_model(spec, **options)
    except ImportError as exc:
        raise ConfigurationError(
            f"Model {spec!r} needs a LangChain provider package that is not installed ({exc})."
        ) from exc
    except Exception as exc:  # init_chat_model raises ValueError and provider-specific errors
        raise ConfigurationError(f"Cannot use model {spec!r}: {exc}. {HOW_TO_CONFIGURE}") from exc
