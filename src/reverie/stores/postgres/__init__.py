"""Reverie's PostgreSQL + pgvector memory store (``pip install 'reverie[postgres]'``).

``open_postgres_store(url)`` checks the server (reachable, database present, pgvector enabled,
matching vector dimensions), opens a connection pool, creates or migrates the tables once and
returns a store that is a context manager with ``close()``. ``open_async_postgres_store`` is the
async twin. Both stores are LangGraph ``BaseStore``s that implement Reverie's storage port
natively: checked commits in one transaction, locking only the namespaces they touch.

The modules, each with one job:

- ``opening``: the two openers (server checks, pool, migrations under the setup lock);
- ``connection``: server checks, typed connection errors, the setup lock;
- ``store``: the sync and async store classes, which only run plans;
- ``steps`` / ``runner``: the plan protocol (statements, embeddings, a transaction) and the
  sync and async runners performing it;
- ``batch`` / ``commit``: the plans of a batch and of a checked commit;
- ``rows`` / ``search`` / ``writes`` / ``namespaces`` / ``filters``: reading items, searching,
  writing, namespaces (scoping, locks, listings) and search filters, as SQL;
- ``schema``: the tables and their migrations; ``indexing``: the index config;
  ``ttl``: expiry sweeps and sweepers; ``settings``: what the plans know about a store.
"""

from __future__ import annotations

from reverie.stores.postgres.opening import open_async_postgres_store, open_postgres_store
from reverie.stores.postgres.search import SearchTuning
from reverie.stores.postgres.store import ReverieAsyncPostgresStore, ReveriePostgresStore

__all__ = [
    "ReverieAsyncPostgresStore",
    "ReveriePostgresStore",
    "SearchTuning",
    "open_async_postgres_store",
    "open_postgres_store",
]
