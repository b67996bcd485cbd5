"""Finding a memory manager by import path (``"myapp.memory:manager"``), as workers do."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from langchain_core.runnables import Runnable

from reverie.core.errors import ConfigurationError
from reverie.executor.invoke import Reflector, check_reflector


def load_reflector(path: str) -> Reflector:
    """Import ``module:attribute``: a manager, a function reflecting on a payload, or a factory.

    A factory is a callable without required arguments; it is called once to build the manager.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"Manager path {path!r} must look like 'package.module:attribute', e.g. "
            "'myapp.memory:manager'."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"Cannot import {module_name!r} for manager path {path!r}: {exc}. Is it on PYTHONPATH?"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"Module {module_name!r} has no attribute {attribute!r} (manager path {path!r})."
            ) from None
    if isinstance(target, Runnable):
        return target
    if callable(target) and _is_factory(target):
        return check_reflector(target())
    return check_reflector(target)


def _is_factory(function: Any) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )
