"""One red line on stderr and exit code 1 for every expected failure, instead of a traceback."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable
from typing import NoReturn, ParamSpec

import typer

from reverie.cli import render
from reverie.core.errors import ReverieError

P = ParamSpec("P")
DEBUG_ENV = "REVERIE_DEBUG"


def friendly_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn an expected failure into one red line on stderr and exit code 1, not a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except ReverieError as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"File not found: {exc.filename or exc}")
        except IsADirectoryError as exc:
            fail(f"{exc.filename} is a directory, not a file.")
        except PermissionError as exc:
            fail(f"Permission denied: {exc.filename or exc}")
        except json.JSONDecodeError as exc:
            fail(f"Invalid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}")
        except sqlite3.Error as exc:
            fail(f"Database error: {exc}")
        except OSError as exc:
            fail(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            fail(
                f"Unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see the traceback)."
            )

    return run


def fail(message: str) -> NoReturn:
    render.error(message)
    raise typer.Exit(code=1)
