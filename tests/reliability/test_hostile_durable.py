"""Hostile values through durable submits (the queue is PostgreSQL; the memories go to every
backend): text is normalised when the job is stored, NaN/Infinity and unstorable ids are refused
at submit, and an input error in the worker fails the job once instead of being retried."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from langgraph.store.base import BaseStore

from reverie import ConfigurationError, InputError, UnstorableValueError
from reverie.executor.durable import DurableReflectionExecutor
from reverie.executor.worker import run_worker_async
from tests.postgres.support import fresh_database
from tests.reliability import hostile_app
from tests.reliability.hostile import (
    ALICE,
    ORDINARY,
    TEXTS,
    Harness,
    config,
    contents,
    normalised,
)

APP = "tests.reliability.hostile_app:manager"


@pytest.fixture
def queue(any_store: BaseStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(hostile_app, "STORE", any_store)
    with fresh_database() as url:
        yield url


def jobs(url: str) -> list[tuple[str, int, Any]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, attempts, args FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
    return [(status, attempts, args) for status, attempts, args in rows]


async def test_durable_submits_apply_the_value_policy(any_store: BaseStore, queue: str) -> None:
    harness = Harness(any_store)
    hostile = {"role": "user", "content": TEXTS["nul-and-surrogates"]}
    with DurableReflectionExecutor(APP, queue) as executor:
        # Text: normalised as the job is stored (PostgreSQL's JSON cannot hold NUL).
        await executor.asubmit({"messages": [hostile]}, ALICE)
        # NaN or Infinity anywhere in the payload: refused at submit, naming the field.
        for number in (math.nan, math.inf):
            with pytest.raises(UnstorableValueError) as caught:
                await executor.asubmit({"messages": [ORDINARY], "meta": {"score": number}}, ALICE)
            assert "payload['meta']['score']" in caught.value.field
        # Ids are never changed: one a store cannot hold is refused at submit.
        for user in ("ali\x00ce", "ali\ud800ce"):
            with pytest.raises(ConfigurationError, match="langgraph_user_id"):
                await executor.asubmit({"messages": [ORDINARY]}, config(user))
        for thread in ("t\x00", "t" * 3000):
            with pytest.raises(InputError, match="thread_id"):
                await executor.asubmit({"messages": [ORDINARY]}, config("alice", thread))
        # A user id too long for the stores is an input error in the worker: failed, not retried.
        await executor.asubmit({"messages": [ORDINARY]}, config("é" * 3000, "other"))
    await run_worker_async(APP, queue, wait=False)

    (stored, refused) = jobs(queue)
    assert stored[:2] == ("succeeded", 1)
    assert "\\u0000" not in str(stored[2]) and normalised(hostile["content"]) in str(stored[2])
    assert refused[:2] == ("failed", 1)  # one attempt, no retry
    assert normalised(hostile["content"]) in contents(any_store)
    harness.check_nothing_stored_changed()

    # The thread goes on: its next message is stored by the next job.
    with DurableReflectionExecutor(APP, queue) as executor:
        await executor.asubmit({"messages": [hostile, ORDINARY]}, ALICE)
    await run_worker_async(APP, queue, wait=False)
    assert "I also like jazz" in contents(any_store)
    harness.check_nothing_stored_changed()
