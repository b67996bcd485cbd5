"""Reverie's bookkeeping between the stores and everything that writes to them: the storage port
for any store (``adapter``), the audit trail (``history``), per-thread progress
(``thread_state``) and the namespace-scoped search (``search``)."""

from reverie.ledger.adapter import LockingStoreAdapter, port_for, unwrap

__all__ = ["LockingStoreAdapter", "port_for", "unwrap"]
