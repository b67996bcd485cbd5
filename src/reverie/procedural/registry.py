"""Prompts kept in a LangGraph store with every version, so an agent's instructions improve over
time and each earlier version can be read back.

A prompt is one item (key: its name) holding the ``Prompt`` fields and a version number. Every
change is committed together with its record in Reverie's audit trail (``reverie.ledger``),
which is where the versions are read back from. All reads and writes go through the store's
port; each operation is one pipeline with a sync and an async driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.store.base import BaseStore, GetOp, Item, PutOp

from reverie.core.effects import Commit, Invoke, Pipeline, StoreBatch, arun, run
from reverie.core.errors import ConfigurationError, ConflictError, InputError, ModelOutputError
from reverie.core.namespace import NamespaceTemplate, validate_label
from reverie.core.ports import Expectation, MemoryStorePort, Write
from reverie.core.values import normalised_value
from reverie.extraction.run_config import checked_config, run_config, thread_id_of
from reverie.ledger import port_for
from reverie.ledger.history import history_put, read_history
from reverie.ledger.search import search_memories
from reverie.ledger.writes import change_memory
from reverie.procedural.types import Prompt
from reverie.tools._runtime import resolve_store

PROMPT_FIELDS = ("name", "prompt", "update_instructions", "when_to_update")
LIST_PAGE = 100


class PromptVersion(NamedTuple):
    """One saved version of a prompt."""

    version: int
    prompt: Prompt
    saved_at: datetime
    thread_id: str | None


def _prompt_of(value: Mapping[str, Any] | None) -> Prompt | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("prompt"), str):
        return None
    return cast(Prompt, {k: value[k] for k in PROMPT_FIELDS if value.get(k) is not None})


def _checked(prompt: Any) -> Prompt:
    if (
        not isinstance(prompt, Mapping)
        or not isinstance(prompt.get("name"), str)
        or not isinstance(prompt.get("prompt"), str)
    ):
        raise InputError(
            "A prompt is a dict with a 'name' and a 'prompt' text, e.g. "
            f"{{'name': 'assistant', 'prompt': 'You are ...'}}; got {prompt!r:.100}."
        )
    validate_label(prompt["name"], where="prompt name")
    # The value policy: a prompt (perhaps written by a model) is stored as every backend can.
    fields = {k: prompt[k] for k in PROMPT_FIELDS if prompt.get(k) is not None}
    return cast(Prompt, normalised_value(fields, "prompt"))


def _stored(prompt: Prompt, version: int) -> dict[str, Any]:
    return {**prompt, "version": version}


def _next_value(before: Item | None, prompt: Prompt) -> dict[str, Any]:
    """The stored value after saving ``prompt``: the same version if nothing changed."""
    if before is None:
        return _stored(prompt, 1)
    version = before.value.get("version")
    version = version if isinstance(version, int) else 1
    if _prompt_of(before.value) == prompt:
        return dict(before.value)
    return _stored(prompt, version + 1)


class PromptRegistry:
    """Named prompts in ``namespace`` of a store, each change kept as a new version.

    ``namespace`` may contain ``{placeholders}`` filled from the run's ``config["configurable"]``
    (one set of prompts per user or per agent). ``store`` defaults to the store of the
    LangGraph run it is used in.
    """

    def __init__(
        self,
        namespace: tuple[str, ...] | str | NamespaceTemplate = ("prompts",),
        *,
        store: BaseStore | None = None,
    ) -> None:
        if store is not None and not isinstance(store, BaseStore):
            raise ConfigurationError(
                f"store must be a LangGraph BaseStore, got {type(store).__name__}."
            )
        self.namespace = NamespaceTemplate(namespace)
        self.explicit_store = store

    def _where(self, config: RunnableConfig | None) -> tuple[MemoryStorePort, tuple[str, ...]]:
        return port_for(resolve_store(self.explicit_store)), self.namespace(run_config(config))

    # ----------------------------------------------------------------- pipelines

    def _get(self, name: str, config: RunnableConfig | None) -> Pipeline[Prompt | None]:
        port, namespace = self._where(config)
        (item,) = yield from StoreBatch(port, [GetOp(namespace, name, refresh_ttl=False)])
        return _prompt_of(item.value) if isinstance(item, Item) else None

    def _put(self, prompt: Any, config: RunnableConfig | None) -> Pipeline[int]:
        checked = _checked(prompt)
        port, namespace = self._where(config)
        change = yield from change_memory(
            port,
            namespace,
            checked["name"],
            lambda before: _next_value(before, checked),
            thread_id=thread_id_of(checked_config(config)),
            index=False,  # prompts are looked up by name, never by meaning
            # An application's prompts are its configuration, not user data: the store's
            # retention policy (default_ttl) does not apply to them.
            ttl=None,
        )
        assert change.after is not None
        return int(change.after["version"])

    def _history(self, name: str, config: RunnableConfig | None) -> Pipeline[list[PromptVersion]]:
        port, namespace = self._where(config)
        records = yield from read_history(port, namespace, name, None)
        versions = []
        for record in records:
            prompt = _prompt_of(record.after)
            if prompt is not None and record.after is not None:
                versions.append(
                    PromptVersion(
                        int(record.after.get("version", 1)), prompt, record.at, record.thread_id
                    )
                )
        return versions

    def _list(self, port: MemoryStorePort, namespace: tuple[str, ...]) -> Pipeline[list[Item]]:
        items: list[Item] = []
        while True:
            page = yield from search_memories(port, namespace, limit=LIST_PAGE, offset=len(items))
            items.extend(page)
            if len(page) < LIST_PAGE:
                return items

    def _optimize(
        self,
        optimizer: Runnable[Any, Any],
        trajectories: Any,
        names: Sequence[str] | None,
        config: RunnableConfig | None,
    ) -> Pipeline[list[Prompt]]:
        port, namespace = self._where(config)
        if names is None:
            items = yield from self._list(port, namespace)
        else:
            found = yield from StoreBatch(
                port, [GetOp(namespace, n, refresh_ttl=False) for n in names]
            )
            missing = [
                n for n, item in zip(names, found, strict=True) if not isinstance(item, Item)
            ]
            if missing:
                raise InputError(
                    f"No stored prompts named {missing} in {namespace}; save them with put() first."
                )
            items = [cast(Item, item) for item in found]
        stored = {item.key: item for item in items if _prompt_of(item.value) is not None}
        if not stored:
            return []
        current = [cast(Prompt, _prompt_of(item.value)) for item in stored.values()]
        result = yield from Invoke(
            optimizer, {"trajectories": trajectories, "prompts": current}, config
        )
        if not isinstance(result, list) or not all(isinstance(p, Mapping) for p in result):
            raise ModelOutputError(
                "optimize() needs a multi-prompt optimizer (create_multi_prompt_optimizer), "
                f"which returns a list of prompts; got {type(result).__name__}."
            )
        yield from self._save_all(port, namespace, stored, [_checked(p) for p in result], config)
        return [_checked(p) for p in result]

    def _save_all(
        self,
        port: MemoryStorePort,
        namespace: tuple[str, ...],
        stored: dict[str, Item],
        improved: list[Prompt],
        config: RunnableConfig | None,
    ) -> Pipeline[None]:
        """Save every changed prompt in one commit, only if none changed meanwhile."""
        expected: list[Expectation] = []
        writes: list[Write] = []
        thread_id = thread_id_of(checked_config(config))
        for prompt in improved:
            before = stored.get(prompt["name"])
            if before is None:
                continue  # the optimizer made up a prompt; only stored ones are updated
            after = _next_value(before, prompt)
            if after == before.value:
                continue
            expected.append(Expectation.of(before))
            writes.append(PutOp(namespace, before.key, after, index=False))
            writes.append(
                history_put(namespace, before.key, "update", before.value, after, thread_id)
            )
        if not writes:
            return
        result = yield from Commit(port, expected, writes)
        if not result.committed:
            names = [e.key for e in result.conflicts]
            raise ConflictError(
                f"Prompts {names} changed while they were being optimized; nothing was saved. "
                "Run the optimization again on the current versions."
            )

    # ----------------------------------------------------------------- sync and async

    def get(self, name: str, *, config: RunnableConfig | None = None) -> Prompt | None:
        """The current version of prompt ``name``, or None."""
        return run(self._get(name, config))

    async def aget(self, name: str, *, config: RunnableConfig | None = None) -> Prompt | None:
        return await arun(self._get(name, config))

    def put(self, prompt: Prompt, *, config: RunnableConfig | None = None) -> int:
        """Save ``prompt`` (under its name); returns its version (unchanged if it is equal)."""
        return run(self._put(prompt, config))

    async def aput(self, prompt: Prompt, *, config: RunnableConfig | None = None) -> int:
        return await arun(self._put(prompt, config))

    def history(self, name: str, *, config: RunnableConfig | None = None) -> list[PromptVersion]:
        """Every saved version of prompt ``name``, oldest first."""
        return run(self._history(name, config))

    async def ahistory(
        self, name: str, *, config: RunnableConfig | None = None
    ) -> list[PromptVersion]:
        return await arun(self._history(name, config))

    def optimize(
        self,
        optimizer: Runnable[Any, Any],
        trajectories: Any,
        *,
        names: Sequence[str] | None = None,
        config: RunnableConfig | None = None,
    ) -> list[Prompt]:
        """Run a multi-prompt ``optimizer`` on the stored prompts (``names``, default all) with
        ``trajectories``, save the improved ones as new versions, and return them all."""
        return run(self._optimize(optimizer, trajectories, names, config))

    async def aoptimize(
        self,
        optimizer: Runnable[Any, Any],
        trajectories: Any,
        *,
        names: Sequence[str] | None = None,
        config: RunnableConfig | None = None,
    ) -> list[Prompt]:
        return await arun(self._optimize(optimizer, trajectories, names, config))
