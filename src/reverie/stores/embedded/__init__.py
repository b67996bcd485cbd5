"""The embedded store: one local SQLite file, hybrid vector + keyword search."""

from reverie.stores.embedded.ranking import SEARCH_MODES, SearchMode
from reverie.stores.embedded.schema import CURRENT_VERSION as SCHEMA_VERSION
from reverie.stores.embedded.store import EmbeddedStore

__all__ = ["SCHEMA_VERSION", "SEARCH_MODES", "EmbeddedStore", "SearchMode"]
