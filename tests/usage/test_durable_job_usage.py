"""The durable queue's job result: each run of a job records its usage with the job's id."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from reverie.executor.durable import DurableReflectionExecutor
from reverie.executor.worker import run_worker_async
from tests.executor import durable_app
from tests.postgres.support import fresh_database

MANAGER = "tests.executor.durable_app:manager"
CONFIG: RunnableConfig = {"configurable": {"thread_id": "t1", "langgraph_user_id": "u1"}}


@pytest.fixture
def dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database() as url:
        monkeypatch.setenv(durable_app.DSN_ENV, url)
        durable_app.open_store(url).close()
        yield url


async def test_a_jobs_usage_is_read_back_by_its_id(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {"messages": [HumanMessage("fact one"), AIMessage("ok"), HumanMessage("fact two")]}
    with DurableReflectionExecutor(MANAGER, dsn) as executor:
        job_id = executor.submit(payload, CONFIG).result()
        # Another thread (a second job of thread t1 would replace the first while it waits).
        second: RunnableConfig = {"configurable": {"thread_id": "t2", "langgraph_user_id": "u1"}}
        other = executor.submit({"messages": [HumanMessage("fact three")]}, second).result()
        assert executor.job_usage(job_id) == []  # not run yet
        with caplog.at_level(logging.INFO, logger="reverie.executor"):
            await run_worker_async(MANAGER, dsn, wait=False)
        (run,) = executor.job_usage(job_id)
        assert (run.job_id, run.thread_id, run.namespace) == (job_id, "t1", ("memories", "u1"))
        assert (run.inserted, run.model_calls, run.tokens_estimated) == (2, 1, False)
        assert run.input_tokens > 0 and run.model_name == "scripted"
        (later,) = await executor.ajob_usage(other)
        assert later.job_id == other and later.inserted == 1
    done = [r.getMessage() for r in caplog.records if "done in" in r.getMessage()]
    assert any(f"Reflection job {job_id} (thread t1) done" in line for line in done)
    assert any(f"ops=+2 ~0 >0 -0 calls=1 tokens={run.input_tokens}/" in line for line in done)
