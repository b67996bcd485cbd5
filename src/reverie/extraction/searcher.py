"""``create_memory_searcher``: the model writes search queries from the conversation, the store
is searched for each, and the results come back merged and ranked.

One pipeline (``reverie.core.effects``) for ``invoke`` and ``ainvoke``; every search goes
through the store's port, exactly in the namespace the template names.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import merge_message_runs
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.store.base import BaseStore, SearchItem
from pydantic import ValidationError

from reverie.core.effects import Invoke, Pipeline, arun, run
from reverie.core.errors import ConfigurationError
from reverie.core.namespace import NamespaceTemplate
from reverie.extraction.messages import message_text
from reverie.extraction.models import resolve_chat_model
from reverie.extraction.run_config import messages_of, run_config
from reverie.ledger import port_for
from reverie.ledger.search import search_memories
from reverie.tools._runtime import resolve_store
from reverie.tools.search import SearchMemoryArgs, create_search_memory_tool

logger = logging.getLogger("reverie.extraction")

DEFAULT_SEARCH_PROMPT = (
    "Look up what is already known that bears on this conversation: write one search per "
    "distinct person, topic or need it touches."
)
SEARCH_REQUEST = "Search the stored memories relevant to the conversation above."
TOOL_NAME = "search_memory"
# Without any usable query from the model, the latest human message is the query: embedders
# read only their first few hundred tokens.
FALLBACK_QUERY_CHARS = 1500


def ranked(results: list[list[SearchItem]]) -> list[SearchItem]:
    """One entry per memory (its best score over all queries), best first; ties keep the order
    in which the searches found them."""
    best: dict[tuple[tuple[str, ...], str], SearchItem] = {}
    for items in results:
        for item in items:
            where = (tuple(item.namespace), item.key)
            known = best.get(where)
            if known is None or _score(item) > _score(known):
                best[where] = item
    return sorted(best.values(), key=_score, reverse=True)


def _score(item: SearchItem) -> float:
    return item.score if item.score is not None else float("-inf")


class MemorySearcher(Runnable[Any, list[SearchItem]]):
    """Runnable from ``{"messages": [...]}`` to the relevant memories, best first."""

    def __init__(
        self,
        model: str | BaseChatModel,
        prompt: str,
        namespace: tuple[str, ...] | NamespaceTemplate,
        store: BaseStore | None,
    ) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigurationError(
                "prompt must be a non-empty string (the searcher's system prompt)."
            )
        if store is not None and not isinstance(store, BaseStore):
            raise ConfigurationError(
                f"store must be a LangGraph BaseStore, got {type(store).__name__}."
            )
        self.model = resolve_chat_model(model)
        self.namespace = NamespaceTemplate(namespace)
        self.prompt = prompt
        self.explicit_store = store
        # The same tool (name, arguments) an agent gets from create_search_memory_tool.
        self.bound = self.model.bind_tools(
            [create_search_memory_tool(self.namespace)], tool_choice=TOOL_NAME
        )

    def _requests(self, reply: Any) -> list[SearchMemoryArgs]:
        requests = []
        calls = reply.tool_calls if isinstance(reply, AIMessage) else []
        for call in calls:
            if call.get("name") != TOOL_NAME:
                continue
            try:
                requests.append(SearchMemoryArgs.model_validate(call.get("args")))
            except ValidationError as exc:
                logger.warning("Skipped a search the model wrote with invalid arguments: %s", exc)
        return requests

    @staticmethod
    def _fallback(messages: list[BaseMessage]) -> list[SearchMemoryArgs]:
        humans = [message_text(m) for m in messages if isinstance(m, HumanMessage)]
        text = humans[-1].strip() if humans else ""
        return [SearchMemoryArgs(query=text[-FALLBACK_QUERY_CHARS:])] if text else []

    def _pipeline(self, input: Any, config: RunnableConfig | None) -> Pipeline[list[SearchItem]]:
        config = run_config(config)
        messages = messages_of(input)
        namespace = self.namespace(config)
        if not messages:
            return []
        prompt = merge_message_runs(
            [SystemMessage(self.prompt), *messages, HumanMessage(SEARCH_REQUEST)]
        )
        reply = yield from Invoke(self.bound, prompt, config)
        requests = self._requests(reply) or self._fallback(messages)
        if not requests:
            return []
        port = port_for(resolve_store(self.explicit_store))
        results = []
        for request in requests:
            found = yield from search_memories(
                port,
                namespace,
                query=request.query,
                filter=request.filter,
                limit=request.limit,
                offset=request.offset,
            )
            results.append(found)
        return ranked(results)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[SearchItem]:
        return run(self._pipeline(input, config))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[SearchItem]:
        return await arun(self._pipeline(input, config))


def create_memory_searcher(
    model: str | BaseChatModel,
    prompt: str = DEFAULT_SEARCH_PROMPT,
    *,
    namespace: tuple[str, ...] | NamespaceTemplate = ("memories", "{langgraph_user_id}"),
    store: BaseStore | None = None,
) -> MemorySearcher:
    """A runnable that finds the memories relevant to a conversation.

    The model reads ``{"messages": [...]}`` and writes one ``search_memory`` call per thing
    worth looking up; each is searched in ``namespace`` (placeholders filled from the run's
    ``config["configurable"]``; exactly that namespace, never the ones below it). Returns the
    store's ``SearchItem``s, each memory once with its best score, best first. If the model
    writes no usable search, the latest human message is searched instead.

    ``store`` defaults to the store of the LangGraph run the searcher is called in.
    """
    return MemorySearcher(model, prompt, namespace, store)


__all__ = ["MemorySearcher", "create_memory_searcher", "ranked"]
