"""``manage_memory``: a tool an agent calls in the hot path to create, update or delete memories.

Values are written in LangMem's tool format, ``{"content": <content>}``, so stores shared with
LangMem keep working. One exception keeps both writers interoperable: updating a memory that a
memory manager wrote (``{"kind": "Memory", "content": {"content": ...}}``) with a text keeps that
shape, so the manager still recognises the memory afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal, Optional

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool, ToolException
from langgraph.store.base import BaseStore, Item
from pydantic import BaseModel, ConfigDict, Field, create_model

from reverie.core.effects import Pipeline, arun, run
from reverie.core.empty import is_empty
from reverie.core.errors import ConfigurationError, InputError, LimitError
from reverie.core.limits import DEFAULT_LIMITS, Limits, check_key, check_value_size
from reverie.core.namespace import NamespaceTemplate
from reverie.core.text import shortened
from reverie.core.values import MAX_VALUE_DEPTH
from reverie.ledger import port_for
from reverie.ledger.writes import change_memory
from reverie.tools._runtime import NestingBoundTool, resolve_store, to_jsonable

Action = Literal["create", "update", "delete"]
_ALL_ACTIONS: tuple[Action, ...] = ("create", "update", "delete")

DEFAULT_MANAGE_INSTRUCTIONS = (
    "Call this tool whenever you:\n\n"
    "1. Learn a new preference or fact about the USER.\n"
    "2. Are explicitly asked by the USER to remember something or to change how you behave.\n"
    "3. Want to keep context that will matter in later conversations.\n"
    "4. Notice that a stored MEMORY is wrong or out of date.\n"
)


def _keep_required_key(schema: dict[str, Any]) -> None:
    # Some providers reject object schemas without a "required" list, even an empty one.
    schema.setdefault("required", [])


def _describe(actions: Sequence[str], instructions: str) -> str:
    if len(actions) == 1:
        verbs = f"{actions[0].capitalize()} a memory"
    else:
        verbs = f"{', '.join(a.capitalize() if i == 0 else a for i, a in enumerate(actions[:-1]))}"
        verbs += f"{',' if len(actions) > 2 else ''} or {actions[-1]} a memory"
    return (
        f"{verbs} that persists across conversations.\n"
        "Give the MEMORY ID to update or delete a memory; leave it out to create one (an id is "
        f"assigned for you).\n{instructions}"
    )


def _value_for(data: Any, existing: Item | None) -> dict[str, Any]:
    if (
        existing is not None
        and existing.value.get("kind") == "Memory"
        and isinstance(existing.value.get("content"), dict)
        and isinstance(data, str)
    ):
        return {"kind": "Memory", "content": {"content": data}}
    return {"content": data}


class _ManageMemory:
    """The tool's behaviour: one pipeline, driven by its sync and async entry points."""

    def __init__(
        self,
        namespace: NamespaceTemplate,
        actions: tuple[Action, ...],
        store: BaseStore | None,
        limits: Limits,
    ) -> None:
        self.namespace = namespace
        self.actions = actions
        self.store = store
        self.limits = limits

    def check(self, action: str, content: Any, id: str | None) -> None:
        if action not in self.actions:
            raise ToolException(
                f"Action {action!r} is not allowed here; use one of {list(self.actions)}."
            )
        if action == "create" and id is not None:
            raise ToolException(
                "Do not pass an id when creating a memory; call again without the id argument."
            )
        if action in ("update", "delete") and not id:
            raise ToolException(f"Pass the MEMORY ID of the memory to {action}.")
        if action in ("create", "update") and content is None:
            raise ToolException(f"Pass the content of the memory to {action}.")

    def _empty(self, action: str) -> str:
        # Refused before the store is read: empty content over a memory would wipe it.
        message = (
            "The memory is empty; pass the text to remember as 'content'. Nothing was changed."
        )
        if action == "update" and "delete" in self.actions:
            message += " To remove the memory, call again with action 'delete'."
        return message

    def pipeline(
        self, content: Any, action: str, id: str | None, config: RunnableConfig
    ) -> Pipeline[str]:
        self.check(action, content, id)
        namespace = self.namespace(config)
        key = id or str(uuid.uuid4())
        missing = ToolException(
            f"No memory with id {shortened(key)} exists in this memory space; nothing was changed. "
            "Search your memories to find the right id."
        )
        try:
            check_key(key, self.limits, "memory id", memory=True)
            data = None if action == "delete" else to_jsonable(content)
        except LimitError:
            raise missing from None  # no id that long was ever stored
        except InputError as exc:
            raise ToolException(f"{exc} Send the call again without it.") from None
        if action != "delete" and is_empty(data):
            raise ToolException(self._empty(action))

        def decide(existing: Item | None) -> dict[str, Any] | None:
            if action != "create" and existing is None:
                raise missing
            if action == "delete":
                return None
            value = _value_for(data, existing)
            try:
                check_value_size(value, self.limits, "This memory")
            except LimitError as exc:
                raise ToolException(
                    f"This memory is {exc.size:,} bytes; a memory may have at most "
                    f"{exc.limit:,}. Keep only what is worth remembering, or split it into "
                    "several memories. Nothing was changed."
                ) from None
            return value

        thread = (config.get("configurable") or {}).get("thread_id")
        # Checked and committed like the memory managers' writes, so a concurrent manager run
        # never updates on top of a value this call is replacing (and vice versa).
        yield from change_memory(
            port_for(resolve_store(self.store)),
            namespace,
            key,
            decide,
            thread_id=str(thread) if thread else None,
        )
        done = {"create": "created", "update": "updated", "delete": "Deleted"}[action]
        return f"{done} memory {key}"


def _args_schema(schema: Any, actions: tuple[Action, ...], default: Action) -> type[BaseModel]:
    action_type = Literal[actions]  # type: ignore[valid-type]
    return create_model(
        "ManageMemoryArgs",
        __config__=ConfigDict(json_schema_extra=_keep_required_key),
        content=(
            Optional[schema],  # noqa: UP045 - schema is a runtime value
            Field(default=None, description="The memory to create, or the new text of an update."),
        ),
        action=(action_type, Field(default=default, description="What to do.")),
        id=(
            Optional[str],  # noqa: UP045
            Field(default=None, description="MEMORY ID to update or delete; omit to create."),
        ),
    )


def create_manage_memory_tool(
    namespace: tuple[str, ...] | str | NamespaceTemplate,
    *,
    instructions: str = DEFAULT_MANAGE_INSTRUCTIONS,
    schema: Any = str,
    actions_permitted: Sequence[Action] | None = _ALL_ACTIONS,
    store: BaseStore | None = None,
    name: str = "manage_memory",
    limits: Limits | None = None,
) -> StructuredTool:
    """A LangChain tool with which an agent creates, updates and deletes its own memories.

    ``namespace`` may contain ``{placeholders}`` filled from the run's
    ``config["configurable"]`` (e.g. ``("memories", "{langgraph_user_id}")``). The tool only ever
    reads or writes inside that namespace: updating or deleting an id that is not there is reported
    back to the model as an error and changes nothing. ``store`` defaults to the store of the
    LangGraph run the tool is called in. Works with ``invoke`` and ``ainvoke``. ``limits``
    (``reverie.core.limits.Limits``) bounds what the model may store; a memory over them, or a
    value no store can hold, is refused back to the model as the tool's result.
    """
    limits = limits or DEFAULT_LIMITS
    template = NamespaceTemplate(namespace, limits=limits)
    if not actions_permitted:
        raise ConfigurationError(
            "actions_permitted is empty; allow at least one of 'create', 'update', 'delete'."
        )
    actions = tuple(actions_permitted)
    unknown = [a for a in actions if a not in _ALL_ACTIONS]
    if unknown:
        raise ConfigurationError(
            f"Unknown actions {unknown}; actions_permitted may only contain {list(_ALL_ACTIONS)}."
        )
    default: Action = "create" if "create" in actions else actions[0]
    behaviour = _ManageMemory(template, actions, store, limits)

    def manage_memory(
        config: RunnableConfig, content: Any = None, action: str = default, id: str | None = None
    ) -> str:
        return run(behaviour.pipeline(content, action, id, config))

    async def amanage_memory(
        config: RunnableConfig, content: Any = None, action: str = default, id: str | None = None
    ) -> str:
        return await arun(behaviour.pipeline(content, action, id, config))

    # Content nested thousands of levels deep would overflow LangChain's runner before the value
    # policy refuses it (see NestingBoundTool); cut one level past what is stored, it is refused.
    return NestingBoundTool.from_function(
        func=manage_memory,
        coroutine=amanage_memory,
        name=name,
        description=_describe(actions, instructions),
        args_schema=_args_schema(schema, actions, default),
        infer_schema=False,
        handle_tool_error=True,
        max_argument_depth=MAX_VALUE_DEPTH + 1,
    )
