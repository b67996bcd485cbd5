"""The ``reverie`` command: every subcommand, plus one-line errors instead of tracebacks.

Commands live in modules by what they do (``memory_commands``, ``transfer_commands``,
``run_commands``); importing them registers them on the one Typer app (``typer_app``).
"""

from __future__ import annotations

from reverie.cli import memory_commands, run_commands, transfer_commands
from reverie.cli.typer_app import app

COMMAND_MODULES = (memory_commands, run_commands, transfer_commands)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``reverie`` script (and of ``python -m reverie.cli.app``)."""
    app(prog_name="reverie")


if __name__ == "__main__":
    main()
