"""Namespace templates such as ``("memories", "{langgraph_user_id}")`` filled from a run's config."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reverie.core.errors import ConfigurationError, NamespaceError
from reverie.core.limits import DEFAULT_LIMITS, Limits, check_depth, check_label

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

_FORMATTER = string.Formatter()

# Reverie keeps its bookkeeping (thread progress, audit trail) under this first label, so a
# namespace of user data may not start with it: searching it would reach every user's history.
RESERVED_ROOT = "__reverie__"


def _template_variables(label: str) -> list[str]:
    try:
        return [field for _, field, _, _ in _FORMATTER.parse(label) if field is not None]
    except ValueError as exc:
        raise NamespaceError(
            f"Namespace label {label!r} is not a valid template ({exc}). "
            "Use '{variable}' for values taken from config['configurable'] and '{{' / '}}' for braces."
        ) from exc


def _label_reader(label: str) -> re.Pattern[str]:
    """A pattern that reads a filled label back into the values of its one variable."""
    parts: list[str] = []
    name: str | None = None
    for literal, field, spec, conversion in _FORMATTER.parse(label):
        parts.append(re.escape(literal))
        if field is None:
            continue
        # Two variables in one label ("{org}-{user}") can split a filled label several ways.
        if spec or conversion or not field.isidentifier() or name not in (None, field):
            raise NamespaceError(
                f"Namespace label {label!r} cannot be read back into the values that filled it; "
                "only labels with one plain '{variable}' (e.g. 'user-{langgraph_user_id}') can."
            )
        parts.append(f"(?P={field})" if name else f"(?P<{field}>.+)")
        name = field
    return re.compile("".join(parts), re.DOTALL)


def validate_label(
    label: object, *, where: str = "namespace", limits: Limits = DEFAULT_LIMITS
) -> str:
    """Check one concrete namespace label: LangGraph stores reject empty labels and dots, and
    every backend must be able to store and index it (``reverie.core.limits.check_label``)."""
    if not isinstance(label, str):
        raise NamespaceError(
            f"Every {where} label must be a string, got {type(label).__name__} {label!r}."
        )
    if not label:
        raise NamespaceError(
            f"A {where} label is empty. Fill every label, e.g. set config['configurable'] values "
            "to non-empty strings."
        )
    if "." in label:
        raise NamespaceError(
            f"The {where} label {label!r} contains '.', which LangGraph stores use as a separator. "
            "Replace dots (for example with '_') before using it as a namespace label."
        )
    return check_label(label, limits, where)


def _check_root(label: str, variables: list[str] | None) -> None:
    if label == RESERVED_ROOT:
        source = f" (from '{variables[0]}')" if variables else ""
        raise NamespaceError(
            f"A namespace may not start with {RESERVED_ROOT!r}{source}: Reverie keeps its own "
            "records there. Put a fixed first label before user values, e.g. "
            "('memories', '{langgraph_user_id}')."
        )


class NamespaceTemplate:
    """A namespace whose labels may name values from ``config["configurable"]``.

    ``NamespaceTemplate(("memories", "{langgraph_user_id}"))({"configurable": {"langgraph_user_id": "a"}})``
    returns ``("memories", "a")``. Without an explicit config the current LangGraph run's config is used.
    Filled labels are checked against ``limits`` (a user id too long for a store is refused
    before anything is read or written).
    """

    __slots__ = ("limits", "template", "variables")

    def __init__(
        self,
        template: NamespaceTemplate | Sequence[str] | str,
        *,
        limits: Limits | None = None,
    ) -> None:
        if isinstance(template, NamespaceTemplate):
            self.template: tuple[str, ...] = template.template
            self.variables: dict[int, list[str]] = dict(template.variables)
            self.limits: Limits = limits or template.limits
            return
        self.limits = limits or DEFAULT_LIMITS
        labels = (template,) if isinstance(template, str) else tuple(template)
        if not labels:
            raise NamespaceError("A namespace needs at least one label, e.g. ('memories',).")
        for label in labels:
            if not isinstance(label, str):
                raise NamespaceError(
                    f"Namespace labels must be strings, got {type(label).__name__} {label!r}."
                )
        self.template = labels
        self.variables = {}
        for index, label in enumerate(labels):
            names = _template_variables(label)
            if names:
                self.variables[index] = names
            else:
                validate_label(label, limits=self.limits)
        check_depth(labels, self.limits, memory=True)
        _check_root(labels[0], self.variables.get(0))

    @property
    def is_static(self) -> bool:
        return not self.variables

    def __call__(self, config: RunnableConfig | Mapping[str, Any] | None = None) -> tuple[str, ...]:
        if not self.variables:
            return self.template
        if config is None:
            from langgraph.config import get_config  # LangGraph's runtime: only when needed

            try:
                config = get_config()
            except RuntimeError:
                config = {}
        if not isinstance(config, Mapping):
            raise ConfigurationError(
                f"config must be a dict like {{'configurable': {{...}}}}, got {type(config).__name__}."
            )
        configurable = config.get("configurable") or {}
        if not isinstance(configurable, Mapping):
            raise ConfigurationError(
                "config['configurable'] must be a dict, got "
                f"{type(configurable).__name__}. Pass config={{'configurable': {{'key': 'value'}}}}."
            )
        labels = list(self.template)
        for index, names in self.variables.items():
            values: dict[str, str] = {}
            for name in names:
                if name not in configurable or configurable[name] is None:
                    raise NamespaceError(
                        f"Namespace template {self.template!r} needs '{name}'. Set it with "
                        f"config={{'configurable': {{'{name}': ...}}}} when invoking."
                    )
                values[name] = str(configurable[name])
            labels[index] = validate_label(
                self.template[index].format(**values),
                where=f"namespace (from '{names[0]}')",
                limits=self.limits,
            )
        _check_root(labels[0], self.variables.get(0))
        return tuple(labels)

    def settings_for(
        self, namespace: Sequence[str], *, descendants: bool = False
    ) -> dict[str, str] | None:
        """The ``config["configurable"]`` values that fill this template into ``namespace``, e.g.
        ``{"langgraph_user_id": "a"}`` for ``("memories", "a")``; None where no values do.

        With ``descendants``, the values that fill it into ``namespace`` or a namespace below it
        (``("memories",)`` gives ``{}``: every value does). Values are strings, as labels hold them.
        """
        labels = tuple(namespace)
        depth = len(self.template)
        if len(labels) > depth or (len(labels) < depth and not descendants):
            return None
        settings: dict[str, str] = {}
        for index, label in enumerate(labels):
            if index not in self.variables:
                if label != self.template[index]:
                    return None
                continue
            match = _label_reader(self.template[index]).fullmatch(label)
            if match is None:
                return None
            for name, value in match.groupdict().items():
                if settings.setdefault(name, value) != value:
                    return None
        return settings

    def __repr__(self) -> str:
        return f"NamespaceTemplate({self.template!r})"
