"""The manager the hostile-values tests' durable worker runs (``tests.reliability.hostile_app:manager``).

Its store is whichever backend the test runs on (set as ``STORE`` before the worker starts, in
the same process); its scripted model stores each new user line as a memory.
"""

from __future__ import annotations

from langgraph.store.base import BaseStore

from reverie import MemoryStoreManager, create_memory_store_manager
from reverie.testing import ScriptedChatModel
from tests.reliability.hostile import echo_user_lines

STORE: BaseStore | None = None


def manager() -> MemoryStoreManager:
    if STORE is None:
        raise RuntimeError("Set tests.reliability.hostile_app.STORE before running the worker.")
    return create_memory_store_manager(ScriptedChatModel(responder=echo_user_lines), store=STORE)
