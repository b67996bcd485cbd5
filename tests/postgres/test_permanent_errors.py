"""PostgreSQL errors that retrying cannot fix are input errors, never "unavailable, retry"."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from reverie.core.errors import InputError, StoreError
from reverie.core.limits import Limits
from reverie.stores.postgres import open_postgres_store
from reverie.stores.postgres.runner import translated
from tests.postgres.support import fresh_database
from tests.reliability.hostile import incompressible


@pytest.mark.parametrize(
    "sqlstate",
    ["22P05", "22021", "22003", "23505", "23503", "54000", "54001"],
    ids=[
        "untranslatable",
        "bad-encoding",
        "out-of-range",
        "unique",
        "foreign-key",
        "row-size",
        "too-complex",
    ],
)
def test_input_problems_are_input_errors(sqlstate: str) -> None:
    error = translated(psycopg.errors.lookup(sqlstate)("refused"), "h")
    assert type(error) is InputError
    assert "nothing was written" in str(error) and "unavailable" not in str(error)


@pytest.mark.parametrize(
    ("exception", "says"),
    [
        (psycopg.errors.lookup("08006")("connection failure"), "is unavailable"),
        (psycopg.errors.lookup("57P01")("admin shutdown"), "is unavailable"),
        (psycopg.errors.lookup("53300")("too many connections"), "is unavailable"),
        (psycopg.InterfaceError("connection closed"), "is unavailable"),
        (PoolTimeout("no connection"), "is unavailable"),
        (psycopg.errors.lookup("40001")("serialization failure"), "rolled the operation back"),
        (psycopg.errors.lookup("42P01")("undefined table"), "refused the operation"),
    ],
    ids=["connection", "shutdown", "too-many", "interface", "pool", "rollback", "undefined"],
)
def test_outages_and_refusals_stay_store_errors(exception: Exception, says: str) -> None:
    error = translated(exception, "h")
    assert type(error) is StoreError and says in str(error)


@pytest.mark.postgres
def test_a_row_over_the_index_limit_is_an_input_error_not_an_outage() -> None:
    # Limits raised past PostgreSQL's own, so the write reaches the server.
    raised = Limits(max_label_bytes=100_000, max_key_bytes=100_000)
    with fresh_database() as url, open_postgres_store(url, limits=raised) as store:
        with pytest.raises(InputError) as caught:
            store.put(("memories", incompressible(12_000)), "k", {"text": "x"})
        message = str(caught.value)
        assert "too large" in message and "Retrying it will fail" in message
        assert "unavailable" not in message
        store.put(("memories", "alice"), "k", {"text": "still works"})
        assert store.get(("memories", "alice"), "k") is not None
