"""Listing pages of the embedded store deep into a namespace: every page is the slice of the
whole listing at its offset, across namespaces, filters, expired and deleted items, while the
rows before a page are passed over rather than read as items."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import PutOp

from reverie.stores.embedded import EmbeddedStore


def _fill(store: EmbeddedStore) -> None:
    # Three namespaces under ("u",), items of two kinds, some deleted, some about to expire.
    ops: list[PutOp] = []
    for ns in (("u", "a"), ("u", "b"), ("u", "c")):
        for i in range(40):
            kind = "note" if i % 3 else "fact"
            ttl = 0.0001 if i % 7 == 0 else None  # 6 ms: expired by the time we list
            ops.append(PutOp(ns, f"{ns[1]}{i}", {"kind": kind, "n": i}, ttl=ttl))
    store.batch(ops)
    store.batch([PutOp(("u", "b"), f"b{i}", None) for i in range(0, 40, 5)])
    time.sleep(0.05)


def _keys(store: EmbeddedStore, **search: Any) -> list[str]:
    return [item.key for item in store.search(("u",), **search)]


@pytest.mark.parametrize("filter", [None, {"kind": "note"}, {"n": {"$gte": 10}}])
def test_every_page_is_the_slice_of_the_whole_listing(
    tmp_path: Path, filter: dict[str, Any] | None
) -> None:
    with EmbeddedStore(tmp_path / "m.db") as store:
        _fill(store)
        whole = _keys(store, limit=1000, filter=filter)
        assert 40 < len(whole) < 120  # expired and deleted items are gone, the rest listed
        for limit in (1, 7, 25):
            for offset in range(0, len(whole) + 3, 5):
                page = _keys(store, limit=limit, offset=offset, filter=filter)
                assert page == whole[offset : offset + limit], (limit, offset)


def test_a_deep_page_reads_only_its_own_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverie.stores.embedded import rows

    with EmbeddedStore(tmp_path / "m.db") as store:
        store.batch([PutOp(("u",), f"k{i:05}", {"n": i}) for i in range(3000)])
        decoded = 0
        original = rows.Row.from_sql.__func__  # type: ignore[attr-defined]

        def counting(cls: type[rows.Row], row: tuple[Any, ...]) -> rows.Row:
            nonlocal decoded
            decoded += 1
            return original(cls, row)

        monkeypatch.setattr(rows.Row, "from_sql", classmethod(counting))
        page = store.search(("u",), limit=10, offset=2990)
        assert [i.key for i in page] == [f"k{i:05}" for i in range(2990, 3000)]
        assert decoded == 10
