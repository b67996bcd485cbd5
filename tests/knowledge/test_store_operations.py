"""MemoryStoreManager.put/get/search/delete with LangMem's signatures: index=, ttl=,
refresh_ttl=, delete(key, config), the default memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.store.memory import InMemoryStore
from pydantic import BaseModel

from reverie import ConfigurationError, InputError, create_memory_store_manager
from reverie.stores import EmbeddedStore
from reverie.stores.postgres import ReveriePostgresStore
from reverie.testing import ScriptedChatModel, hashing_index
from tests.store_factories import FACTORIES

CONFIG: RunnableConfig = {"configurable": {"langgraph_user_id": "alice"}}
NS = ("memories", "alice")


def test_langmem_put_examples_index_none_false_and_fields() -> None:
    store = InMemoryStore(index=hashing_index())
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)
    manager.put("report", {"memory": "Will likes ai"}, config=CONFIG)
    manager.put("hidden", {"memory": "Will likes ai"}, index=False, config=CONFIG)
    manager.put(
        "nested",
        {"memory": "Will likes ai", "context": [{"content": "robots"}, {"content": "chess"}]},
        index=["memory", "context[*].content"],
        config=CONFIG,
    )
    # Dicts that match no schema are stored as given, as LangMem's put does.
    item = store.get(NS, "report")
    assert item is not None
    assert item.value == {"memory": "Will likes ai"}
    found = {i.key: i.score for i in manager.search(query="Will likes ai", config=CONFIG)}
    assert found["hidden"] is None  # stored, searchable by filter, but without a vector
    assert found["report"] is not None and found["nested"] is not None
    # A value of the manager's schema is stored the way the manager stores memories.
    manager.put("tea", "User likes tea", config=CONFIG)
    item = store.get(NS, "tea")
    assert item is not None
    assert item.value == {
        "kind": "Memory",
        "content": {"content": "User likes tea"},
    }


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_ttl_is_honoured_by_the_embedded_and_postgres_stores(kind: str, tmp_path: Path) -> None:
    with FACTORIES[kind](tmp_path, hashing_index()) as store:
        manager = create_memory_store_manager(ScriptedChatModel(), store=store)
        manager.put("short", {"content": "expires soon"}, ttl=0.002, config=CONFIG)  # 0.12 s
        manager.put("long", {"content": "expires in an hour"}, ttl=60, config=CONFIG)
        manager.put("forever", {"content": "never expires"}, config=CONFIG)
        assert manager.get("short", config=CONFIG) is not None
        time.sleep(0.4)
        assert isinstance(store, (EmbeddedStore, ReveriePostgresStore))
        store.sweep_ttl()
        assert manager.get("short", config=CONFIG) is None
        assert manager.get("long", config=CONFIG) is not None
        assert manager.get("forever", refresh_ttl=False, config=CONFIG) is not None
        assert {i.key for i in manager.search(refresh_ttl=True, config=CONFIG)} == {
            "long",
            "forever",
        }


def test_putting_the_same_value_with_a_ttl_restarts_its_expiry(tmp_path: Path) -> None:
    with FACTORIES["embedded"](tmp_path, hashing_index()) as store:
        manager = create_memory_store_manager(ScriptedChatModel(), store=store)
        manager.put("k", {"content": "x"}, ttl=0.004, config=CONFIG)  # 0.24 s
        time.sleep(0.15)
        manager.put("k", {"content": "x"}, ttl=0.004, config=CONFIG)
        # The rewrite is not a change: no record of it. (The insert's record has the memory's
        # ttl, so it is read before it expires.)
        assert len(manager.history("k", config=CONFIG)) == 1
        time.sleep(0.15)
        assert manager.get("k", config=CONFIG) is not None


def test_ttl_on_a_store_that_cannot_expire_items_is_refused() -> None:
    manager = create_memory_store_manager(ScriptedChatModel(), store=InMemoryStore())
    with pytest.raises(ConfigurationError, match="does not expire items"):
        manager.put("k", {"content": "x"}, ttl=5, config=CONFIG)
    with pytest.raises(ConfigurationError, match="minutes and must be positive"):
        manager.put("k", {"content": "x"}, ttl=-1, config=CONFIG)
    with pytest.raises(ConfigurationError, match="index must be"):
        manager.put("k", {"content": "x"}, index="content", config=CONFIG)  # type: ignore[arg-type]  # deliberately wrong type
    with pytest.raises(InputError, match="Cannot store"):
        manager.put("k", 42, config=CONFIG)


def test_async_twins_and_delete_with_a_positional_config() -> None:
    store = InMemoryStore()
    manager = create_memory_store_manager(ScriptedChatModel(), store=store)

    async def scenario() -> None:
        await manager.aput("report", {"memory": "Will likes ai"}, False, config=CONFIG)
        item = await manager.aget("report", refresh_ttl=False, config=CONFIG)
        assert item is not None and item.value == {"memory": "Will likes ai"}
        assert [
            i.key for i in await manager.asearch(filter={"memory": "Will likes ai"}, config=CONFIG)
        ] == ["report"]
        await manager.adelete("report", CONFIG)
        assert await manager.aget("report", config=CONFIG) is None

    asyncio.run(scenario())
    manager.put("k", {"content": "x"}, config=CONFIG)
    manager.delete("k", CONFIG)
    assert store.get(NS, "k") is None


class Profile(BaseModel):
    name: str
    language: str = "en"


def test_the_default_memory_is_returned_before_it_is_stored() -> None:
    store = InMemoryStore()
    manager = create_memory_store_manager(
        ScriptedChatModel(),
        schemas=[Profile],
        default_factory=lambda config: Profile(name=config["configurable"]["langgraph_user_id"]),
        store=store,
    )
    item = manager.get("default", config=CONFIG)
    assert item is not None and item.value == {
        "kind": "Profile",
        "content": {"name": "alice", "language": "en"},
    }
    (found,) = manager.search(config=CONFIG)
    assert found.key == "default" and found.value == item.value
    assert manager.search(offset=1, config=CONFIG) == []
    assert store.search(NS) == []  # nothing was written
    # Without a default, a missing key is simply missing (LangMem raised here).
    plain = create_memory_store_manager(ScriptedChatModel(), store=store)
    assert plain.get("default", config=CONFIG) is None
    assert plain.search(config=CONFIG) == []
