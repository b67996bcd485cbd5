"""Keeping an optimized prompt usable as the template it was: its ``{variables}`` survive, and
any other brace the model adds is escaped so ``prompt.format(**values)`` still works."""

from __future__ import annotations

import re

_VARIABLE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_PIECES = re.compile(r"(\{\{|\}\}|\{[A-Za-z_][A-Za-z0-9_]*\})")


class MissingVariables(ValueError):
    """The improved prompt dropped variables the original has."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = missing
        names = ", ".join("{" + name + "}" for name in sorted(missing))
        super().__init__(
            f"The improved prompt dropped the template variables {names}; keep each of them "
            "exactly as written in the current prompt."
        )


def template_variables(text: str) -> set[str]:
    """The ``{name}`` placeholders of ``text`` (doubled braces are literal, not variables)."""
    return set(_VARIABLE.findall(text))


def keep_template(original: str, improved: str) -> str:
    """``improved``, checked to keep the variables of ``original`` and with every other brace
    escaped. A prompt without variables is not a template: its text is returned as is."""
    variables = template_variables(original)
    if not variables:
        return improved
    missing = variables - template_variables(improved)
    if missing:
        raise MissingVariables(missing)
    out = []
    for piece in _PIECES.split(improved):
        if piece in ("{{", "}}") or (piece.startswith("{") and piece[1:-1] in variables):
            out.append(piece)
        else:
            out.append(piece.replace("{", "{{").replace("}", "}}"))
    return "".join(out)
