"""Paging through hybrid results, as docs/retrieval.md describes it: pages within the first
quarter of the pool are slices of one ranking; vector search pages consistently at any depth."""

from __future__ import annotations

from pathlib import Path

from langgraph.store.base import PutOp

from reverie.stores.embedded import EmbeddedStore
from tests.stores.embedded_helpers import indexed

WORDS = ["apple", "tango", "sierra", "delta", "echo", "lima", "oscar", "papa", "kilo"]


def _fill(store: EmbeddedStore) -> None:
    store.batch(
        [
            PutOp(("u",), f"k{i}", {"text": " ".join(WORDS[(i * j) % 9] for j in range(1, 5))})
            for i in range(300)
        ]
    )


def _keys(store: EmbeddedStore, limit: int, offset: int = 0) -> list[str]:
    found = store.search(("u",), query="apple tango sierra", limit=limit, offset=offset)
    return [item.key for item in found]


def test_pages_within_a_quarter_of_the_pool_are_slices_of_one_ranking(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        _fill(store)
        whole = _keys(store, limit=25)
        assert len(whole) == 25
        for limit in (1, 5, 7):
            for offset in range(0, 25 - limit + 1, limit):
                assert _keys(store, limit, offset) == whole[offset : offset + limit]


def test_vector_search_pages_consistently_at_any_depth(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "m.db", index=indexed()) as store:
        _fill(store)
        store.search_mode = "vector"
        whole = _keys(store, limit=300)
        pages = [key for offset in range(0, 300, 10) for key in _keys(store, 10, offset)]
        assert pages == whole
        assert len(set(pages)) == 300
