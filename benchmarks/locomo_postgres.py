"""The LoCoMo retrieval run on Reverie's PostgreSQL store, when a server is there.

Uses ``scripts/postgres.sh``'s throwaway server (``make bench`` starts it as root) or
``$REVERIE_BENCH_POSTGRES_URL``; each run gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.locomo_data import REPO


def server_url() -> str | None:
    url = os.environ.get("REVERIE_BENCH_POSTGRES_URL")
    if url:
        return url
    try:
        found = subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres.sh"), "url"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def with_postgres(job: Callable[[Any], Any], index: dict[str, Any]) -> dict[str, Any]:
    """``{"postgres": job(store)}`` on a fresh database, or a note saying why it was skipped."""
    try:
        import psycopg

        from reverie.stores.postgres import open_postgres_store
    except ImportError as exc:
        return {"postgres": f"skipped: {exc} (pip install 'reverie[postgres]')"}
    url = server_url()
    if url is None:
        return {"postgres": "skipped: no server (sudo bash scripts/postgres.sh start)"}
    name = f"locomo_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return {"postgres": f"skipped: server unreachable ({exc})"}
    database = url.rsplit("/", 1)[0] + f"/{name}"
    try:
        with open_postgres_store(database, index=index) as store:
            return {"postgres": job(store)}
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
