"""The manager that durable-queue test workers import: ``tests.executor.durable_app:manager``.

Its scripted model stores every new user line as one memory, so what a job writes is a pure
function of its payload. With ``REVERIE_TEST_HANG_ON_CALL=N`` the N-th model call of the process
writes ``$REVERIE_TEST_MARKER`` and hangs, so a test can kill the worker in the middle of a job.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.stores.postgres import ReveriePostgresStore, open_postgres_store
from reverie.testing import ScriptedChatModel, ScriptedRequest, tool_call
from tests.helpers import new_conversation

DSN_ENV = "REVERIE_TEST_QUEUE_DSN"
NAMESPACE = ("memories", "{langgraph_user_id}")
_calls = itertools.count(1)


def remember_user_lines(request: ScriptedRequest) -> list[dict] | str:
    hang_on = os.environ.get("REVERIE_TEST_HANG_ON_CALL")
    if hang_on and next(_calls) == int(hang_on):
        Path(os.environ["REVERIE_TEST_MARKER"]).write_text(str(os.getpid()))
        while True:  # blocks this worker for good: it is killed mid-job
            time.sleep(1)
    lines = new_conversation(request).strip().splitlines()
    facts = [line.removeprefix("user: ") for line in lines if line.startswith("user: ")]
    return [tool_call("Memory", {"content": fact}) for fact in facts] or ""


def open_store(dsn: str) -> ReveriePostgresStore:
    return open_postgres_store(dsn, pool_size=2)  # a plain key-value store: no index


def manager() -> MemoryStoreManager:
    model = ScriptedChatModel(responder=remember_user_lines, latency_seconds=0.02)
    return create_memory_store_manager(
        model, namespace=NAMESPACE, store=open_store(os.environ[DSN_ENV])
    )
