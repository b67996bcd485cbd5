"""``SummarizationNode``: the summarizer as a LangGraph node (or an agent's ``pre_model_hook``).

Its ``invoke`` and ``ainvoke`` only read the state and shape the update; the work is the same
pipeline ``summarize_messages`` drives (``reverie.short_term.summarize``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import RemoveMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from pydantic import BaseModel

from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import ConfigurationError, InputError
from reverie.short_term import prompts
from reverie.short_term.summarize import Summarizer, TokenCounter
from reverie.short_term.types import SummarizationResult


class SummarizationNode(Runnable[Any, dict[str, Any]]):
    """Summarizes the state's messages once they exceed a token budget (see
    :func:`~reverie.short_term.summarize_messages` for the budgets and guarantees).

    Reads ``input_messages_key`` and ``context["running_summary"]`` from the state; returns
    ``{output_messages_key: messages}`` plus ``{"context": {..., "running_summary": ...}}``
    once something has been summarized. By default the output key differs from the input key,
    so the full history stays in the state and the model reads the summarized list. With equal
    keys the summarized messages replace the history in the state.
    """

    def __init__(
        self,
        *,
        model: LanguageModelLike,
        max_tokens: int,
        max_tokens_before_summary: int | None = None,
        max_summary_tokens: int = 256,
        token_counter: TokenCounter = count_tokens_approximately,
        initial_summary_prompt: ChatPromptTemplate = prompts.FIRST_SUMMARY_PROMPT,
        existing_summary_prompt: ChatPromptTemplate = prompts.EXTEND_SUMMARY_PROMPT,
        final_prompt: ChatPromptTemplate = prompts.FINAL_PROMPT,
        input_messages_key: str = "messages",
        output_messages_key: str = "summarized_messages",
        name: str = "summarization",
    ) -> None:
        for argument, key in (
            ("input_messages_key", input_messages_key),
            ("output_messages_key", output_messages_key),
        ):
            if not isinstance(key, str) or not key:
                raise ConfigurationError(f"{argument} must be a state key, got {key!r}.")
        self.summarizer = Summarizer.create(
            model=model,
            max_tokens=max_tokens,
            max_tokens_before_summary=max_tokens_before_summary,
            max_summary_tokens=max_summary_tokens,
            token_counter=token_counter,
            initial_summary_prompt=initial_summary_prompt,
            existing_summary_prompt=existing_summary_prompt,
            final_prompt=final_prompt,
        )
        self.input_messages_key = input_messages_key
        self.output_messages_key = output_messages_key
        self.name = name

    def _read_state(self, state: Any) -> tuple[Any, dict[str, Any]]:
        if isinstance(state, Mapping):
            messages, context = state.get(self.input_messages_key), state.get("context")
        elif isinstance(state, BaseModel):
            # A pydantic graph state: the fields are the ones this node was configured with.
            messages = getattr(state, self.input_messages_key, None)
            context = getattr(state, "context", None)
        else:
            raise InputError(
                f"SummarizationNode needs the graph state (a dict or a pydantic model), got "
                f"{type(state).__name__}."
            )
        if messages is None:
            raise InputError(
                f"The state has no {self.input_messages_key!r}; set input_messages_key to the "
                "key holding the conversation."
            )
        if context is not None and not isinstance(context, Mapping):
            raise InputError(
                f"state['context'] must be a dict (it holds the running summary), got "
                f"{type(context).__name__}."
            )
        return messages, dict(context or {})

    def _update(self, context: dict[str, Any], result: SummarizationResult) -> dict[str, Any]:
        update: dict[str, Any] = {self.output_messages_key: result.messages}
        if result.running_summary is not None:
            update["context"] = {**context, "running_summary": result.running_summary}
            if self.input_messages_key == self.output_messages_key:
                # Replace the history in the state rather than appending to it.
                update[self.output_messages_key] = [
                    RemoveMessage(id=REMOVE_ALL_MESSAGES),
                    *result.messages,
                ]
        return update

    def _pipeline(self, state: Any, config: RunnableConfig | None) -> Pipeline[dict[str, Any]]:
        messages, context = self._read_state(state)
        result = yield from self.summarizer.pipeline(
            messages, context.get("running_summary"), config
        )
        return self._update(context, result)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return run(self._pipeline(input, config))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await arun(self._pipeline(input, config))
