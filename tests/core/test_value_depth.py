"""Values nested deeper than MAX_VALUE_DEPTH are refused with a typed error wherever they enter,
never with a RecursionError, and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reverie.core.errors import UnstorableValueError
from reverie.core.values import MAX_VALUE_DEPTH, normalised_value, storable_json
from reverie.executor.payload import encode_payload
from reverie.stores.embedded import EmbeddedStore


def nested(levels: int) -> Any:
    node: Any = ["leaf"]
    for _ in range(levels - 1):
        node = {"a": node}
    return node


@pytest.mark.parametrize("levels", [MAX_VALUE_DEPTH + 1, 5_000])
def test_the_value_policy_refuses_deep_values_without_recursing(levels: int) -> None:
    for check in (normalised_value, storable_json, encode_payload):
        with pytest.raises(UnstorableValueError, match="nested more than 100 levels"):
            check(nested(levels))


def test_values_at_the_depth_limit_are_kept() -> None:
    value = nested(MAX_VALUE_DEPTH)
    assert normalised_value(value) == value
    assert storable_json(value).count("{") == MAX_VALUE_DEPTH - 1


def test_a_store_refuses_a_deep_value_and_keeps_what_it_held(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.put(("u",), "kept", {"text": "hello"})
        with pytest.raises(UnstorableValueError, match="nested more than"):
            store.put(("u",), "deep", {"v": nested(5_000)})
        assert [i.key for i in store.search(("u",))] == ["kept"]
