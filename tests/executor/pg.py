"""A fresh PostgreSQL database per durable-queue test (skipped locally when none is reachable)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:55432/postgres"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def server_url() -> str:
    return os.environ.get("REVERIE_TEST_POSTGRES_URL", DEFAULT_URL)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database on the test server, yield its URL, drop it afterwards."""
    import psycopg

    url = server_url()
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {url} (set REVERIE_TEST_POSTGRES_URL): {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"reverie_exec_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(url, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
