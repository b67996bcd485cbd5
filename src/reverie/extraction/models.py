"""Resolving the ``model`` argument: a chat model instance or a ``"provider:model"`` string."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from reverie.core.errors import ConfigurationError


def resolve_chat_model(model: str | BaseChatModel, *, argument: str = "model") -> BaseChatModel:
    if isinstance(model, BaseChatModel):
        return model
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(
            f"{argument} must be a chat model or a 'provider:model' string such as "
            f"'openai:gpt-4.1-mini', got {model!r}."
        )
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(model)
    except ImportError as exc:
        raise ConfigurationError(
            f"{argument}={model!r} needs its provider package: {exc}. Install it, e.g. "
            "`pip install langchain-openai` for 'openai:...'."
        ) from exc
    except ValueError as exc:
        raise ConfigurationError(
            f"Could not create chat model {model!r}: {exc}. Use 'provider:model', "
            "e.g. 'openai:gpt-4.1-mini' or 'anthropic:claude-sonnet-4-5'."
        ) from exc
