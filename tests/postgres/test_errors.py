"""Clear, typed errors for the problems a user can fix: server down, database or pgvector missing."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from langgraph.store.base import GetOp

from reverie.core.errors import ConfigurationError, InputError, NamespaceError, StoreError
from reverie.core.ports import NamespaceSearch
from reverie.stores.postgres import open_async_postgres_store, open_postgres_store
from reverie.stores.postgres.connection import _ensure_vector_extension, redact
from reverie.testing import hashing_index
from tests.postgres.support import database_url, fresh_database, require_postgres


def test_unreachable_server_says_where_and_how_to_start_without_the_password() -> None:
    url = "postgresql://reverie:s3cret@127.0.0.1:9/memories"  # port 9: nothing listens
    with pytest.raises(StoreError) as caught:
        open_postgres_store(url, index=hashing_index(), connect_timeout=2)
    message = str(caught.value)
    assert "127.0.0.1:9" in message and "bash scripts/postgres.sh start" in message
    assert "s3cret" not in message


async def test_unreachable_server_async() -> None:
    with pytest.raises(StoreError, match="scripts/postgres.sh start"):
        await open_async_postgres_store(
            "postgresql://postgres@127.0.0.1:9/postgres", index=hashing_index(), connect_timeout=2
        )


def test_redact_hides_passwords_in_urls_and_key_value_strings() -> None:
    assert redact("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact("postgresql://u@h/db?password=pw&sslmode=off") == (
        "postgresql://u@h/db?password=***&sslmode=off"
    )
    assert redact("host=h password=pw dbname=d") == "host=h password=*** dbname=d"


@pytest.mark.postgres
def test_missing_database_is_named() -> None:
    name = f"reverie_missing_{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigurationError) as caught:
        open_postgres_store(database_url(name, require_postgres()), index=hashing_index())
    assert f'"{name}" does not exist' in str(caught.value)
    assert "CREATE DATABASE" in str(caught.value)


@pytest.mark.postgres
def test_extension_not_enabled_and_not_allowed_to_enable() -> None:
    admin = require_postgres()
    role = f"reverie_user_{uuid.uuid4().hex[:8]}"
    name = f"reverie_novector_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')  # no pgvector in it
    try:
        url = database_url(name, admin).replace("postgres@", f"{role}@", 1)
        with pytest.raises(ConfigurationError, match="CREATE EXTENSION vector"):
            open_postgres_store(url, index=hashing_index())
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


class _ServerWithoutPgvector:
    """Answers the two catalogue queries as a server without pgvector packages would."""

    def execute(self, query: str, *args: Any) -> _ServerWithoutPgvector:
        return self

    def fetchone(self) -> None:
        return None


def test_extension_not_installed_says_how_to_install() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _ensure_vector_extension(_ServerWithoutPgvector(), "postgresql://h/db")  # type: ignore[arg-type]  # a stand-in connection
    assert "pgvector extension is not installed" in str(caught.value)
    assert "scripts/postgres.sh install" in str(caught.value)


@pytest.mark.postgres
def test_creates_the_extension_when_allowed() -> None:
    admin = require_postgres()
    name = f"reverie_fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        with open_postgres_store(database_url(name, admin), index=hashing_index()) as store:
            store.put(("n",), "k", {"text": "hello"})
            assert store.search(("n",), query="hello")[0].key == "k"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_dimension_mismatch_is_refused_before_anything_is_written() -> None:
    with fresh_database() as url:
        with open_postgres_store(url, index=hashing_index(64)) as store:
            store.put(("n",), "k", {"text": "kept"})
        with pytest.raises(ConfigurationError, match="64-dimensional"):
            open_postgres_store(url, index=hashing_index(32))
        with open_postgres_store(url, index=hashing_index(64)) as store:
            assert store.get(("n",), "k") is not None


@pytest.mark.postgres
@pytest.mark.parametrize(
    "value",
    [{"text": "nul \x00 inside"}, {"n": float("nan")}, {"when": object()}],
    ids=["nul", "nan", "object"],
)
def test_values_postgres_cannot_store_are_refused_saying_what_to_do(value: dict[str, Any]) -> None:
    with fresh_database() as url, open_postgres_store(url) as store:
        with pytest.raises(InputError) as caught:
            store.put(("n",), "k", value)
        assert "nothing was written" in str(caught.value) or "before storing" in str(caught.value)
        assert store.get(("n",), "k") is None


@pytest.mark.postgres
def test_malformed_namespaces_and_operations_are_typed_errors() -> None:
    with fresh_database() as url, open_postgres_store(url) as store:
        with pytest.raises(NamespaceError, match="without '.'"):
            store.batch([GetOp(("a.b",), "k")])
        with pytest.raises(NamespaceError, match="without '.'"):
            store.batch([NamespaceSearch(("a", "b.c"))])
        with pytest.raises(InputError, match="Unknown store operation"):
            store.batch(["not an operation"])  # type: ignore[list-item]  # deliberately wrong type
        with pytest.raises(InputError, match="Unsupported filter operator"):
            store.search(("a",), filter={"n": {"$regex": "x"}})
