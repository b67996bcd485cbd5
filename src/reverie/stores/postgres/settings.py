"""What a store's plans need to know about it: its index, TTL and search configs, and the
tables it found when it opened."""

from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.store.base import TTLConfig

from reverie.core.indexing import RankingOptions
from reverie.core.limits import DEFAULT_LIMITS, Limits
from reverie.stores.postgres.indexing import IndexSettings
from reverie.stores.postgres.schema import SchemaInfo
from reverie.stores.postgres.search import NamespaceSizes, SearchTuning, VectorSearch
from reverie.stores.postgres.ttl import refresh_default


@dataclass(frozen=True)
class StoreSettings:
    index: IndexSettings | None = None
    """None: a key-value store without vectors (queries are ignored, as by InMemoryStore)."""
    ttl: TTLConfig | None = None
    tuning: SearchTuning = field(default_factory=SearchTuning)
    session_tuned: bool = False
    """Whether the pool applies the pgvector session settings to every connection."""
    schema: SchemaInfo = field(default_factory=SchemaInfo)
    sizes: NamespaceSizes = field(default_factory=NamespaceSizes)
    ranking: RankingOptions = field(default_factory=RankingOptions)
    limits: Limits = DEFAULT_LIMITS
    """The store-level limits, the same as the embedded store's (``reverie.core.requests``)."""

    @property
    def refresh_on_read(self) -> bool:
        return refresh_default(self.ttl)

    @property
    def vector_search(self) -> VectorSearch | None:
        if self.index is None:
            return None
        hybrid = self.ranking if self.schema.has_keywords else None
        return VectorSearch(self.index, self.tuning, self.sizes, self.session_tuned, hybrid)

    @property
    def searches_need_transaction(self) -> bool:
        """Approximate searches set pgvector's options per transaction on foreign pools."""
        return self.index is not None and self.tuning.iterative_scan and not self.session_tuned
