from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.store.base import BaseStore

from reverie.testing import hashing_index
from tests.store_factories import FACTORIES

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(params=sorted(FACTORIES))
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def any_store(store_kind: str, tmp_path: Path) -> Iterator[BaseStore]:
    """A fresh store of every backend, indexed with the deterministic hashing embedder."""
    with FACTORIES[store_kind](tmp_path, hashing_index()) as store:
        yield store
