"""Item lifetimes: refreshing them when items are read, and deleting expired items.

An item put with ``ttl`` (minutes) expires ``ttl`` minutes after its last write, or after its
last read when reads refresh (``refresh_ttl``, by default ``ttl_config["refresh_on_read"]``).
Expired items are never returned; sweeps only reclaim their space. Writing batches sweep now and
then (every ``sweep_interval_minutes``, default 5), and :class:`~reverie.stores.embedded.sweeper.
Sweeper` can do it on a background thread.
"""

from __future__ import annotations

import time
from collections import defaultdict

from langgraph.store.base import TTLConfig

from reverie.stores.embedded.cache import NamespaceCache
from reverie.stores.embedded.database import StoreFile
from reverie.stores.embedded.rows import chunks, marks

DEFAULT_SWEEP_MINUTES = 5.0


class Expiry:
    """TTL bookkeeping on ``db``. Methods that take ``now`` run inside the caller's write
    transaction; :meth:`refresh_after_read` and :meth:`sweep_now` open their own."""

    def __init__(self, db: StoreFile, cache: NamespaceCache, config: TTLConfig | None) -> None:
        self.db = db
        self.cache = cache
        self.config = config
        self._last_sweep = 0.0

    @property
    def refresh_on_read(self) -> bool:
        """What a read without its own ``refresh_ttl`` does."""
        return bool((self.config or {}).get("refresh_on_read", True))

    @property
    def sweep_minutes(self) -> float:
        return float((self.config or {}).get("sweep_interval_minutes") or DEFAULT_SWEEP_MINUTES)

    def refresh(self, ids: set[int], now: float) -> None:
        """Restart the lifetimes of the items ``ids`` at ``now``."""
        for chunk in chunks(sorted(ids)):
            self.db.conn.execute(
                "UPDATE items SET expires_at = ? + 60.0 * ttl_minutes WHERE ttl_minutes IS NOT "
                f"NULL AND id IN ({marks(len(chunk))})",
                (now, *chunk),
            )

    def refresh_after_read(self, ids: set[int], now: float) -> None:
        """Refresh after a read-only batch; best effort: skipped while another process keeps
        the write lock past the busy timeout (the read already succeeded)."""
        with self.db.write_if_free() as started:
            if started:
                self.refresh(ids, now)

    def sweep_if_due(self, now: float) -> None:
        if now - self._last_sweep < 60.0 * self.sweep_minutes:
            return
        self._last_sweep = now
        self.sweep(now)

    def sweep(self, now: float) -> int:
        """Delete every item expired at ``now`` with its vectors; returns how many."""
        conn = self.db.conn
        expired = conn.execute(
            "SELECT id, ns_id FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        ).fetchall()
        by_ns: dict[int, list[int]] = defaultdict(list)
        for item_id, ns_id in expired:
            by_ns[ns_id].append(item_id)
        for ns_id, ids in by_ns.items():
            for chunk in chunks(ids):
                holes = marks(len(chunk))
                conn.execute(f"DELETE FROM vectors WHERE item_id IN ({holes})", chunk)
                conn.execute(f"DELETE FROM items WHERE id IN ({holes})", chunk)
            conn.execute("UPDATE namespaces SET version = version + 1 WHERE id = ?", (ns_id,))
            # Dropping is always safe (the entry reloads on next use), even if this rolls back.
            self.cache.discard(ns_id)
        return len(expired)

    def sweep_now(self) -> int:
        """Sweep in a transaction of its own."""
        with self.db.transaction(write=True):
            return self.sweep(time.time())
