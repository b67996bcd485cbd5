"""The store's ``index`` config: which texts of a value are embedded, and how vectors compare.

Accepts LangGraph's ``PostgresIndexConfig`` unchanged (``dims``, ``embed``, ``fields``,
``distance_type``, ``ann_index_config`` with ``kind``, ``vector_type``, ``m``,
``ef_construction``, ``nlist``), so a config written for LangGraph's ``PostgresStore`` works here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp, ensure_embeddings, get_text_at_path, tokenize_path

from reverie.core.errors import ConfigurationError
from reverie.core.indexing import EpisodeFields, IndexFields, default_fields

# distance_type -> (pgvector operator, operator class suffix, similarity from the distance `d`)
_DISTANCES = {
    "cosine": ("<=>", "cosine_ops", "1 - {d}"),
    "l2": ("<->", "l2_ops", "-{d}"),
    "inner_product": ("<#>", "ip_ops", "-{d}"),
}
_ANN_PARAMETERS = {"hnsw": ("m", "ef_construction"), "ivfflat": ("lists", "nlist")}


@dataclass(frozen=True)
class IndexSettings:
    """A validated index config."""

    dims: int
    embeddings: Embeddings
    fields: tuple[tuple[str, Any], ...]
    """Each configured field path with its tokenized form (``"$"``: the whole value)."""
    distance_type: str = "cosine"
    vector_type: str = "vector"
    ann_kind: str = "hnsw"
    ann_parameters: dict[str, int] = field(default_factory=dict)
    keyword_fields: tuple[tuple[str, Any], ...] | None = None
    """Paths keyword search sees (None: the embedded ``fields``)."""
    episodes: EpisodeFields = field(default_factory=EpisodeFields)

    @property
    def operator(self) -> str:
        return _DISTANCES[self.distance_type][0]

    def similarity(self, distance: str) -> str:
        """SQL turning the distance expression ``distance`` into a score, higher is closer."""
        return _DISTANCES[self.distance_type][2].format(d=distance)

    def query_vector(self) -> str:
        """The SQL placeholder for a query vector passed as a list of floats."""
        return f"(SELECT %s::float4[]::{self.vector_type})"

    def index_ddl(self) -> str | None:
        """``CREATE INDEX`` for the vectors (None for ``kind='flat'``: exact scans only)."""
        if self.ann_kind == "flat":
            return None
        ops = f"{self.vector_type}_{_DISTANCES[self.distance_type][1]}"
        with_clause = ", ".join(f"{k} = {v}" for k, v in sorted(self.ann_parameters.items()))
        return (
            "CREATE INDEX IF NOT EXISTS store_vectors_embedding_idx ON store_vectors "
            f"USING {self.ann_kind} (embedding {ops})"
            + (f" WITH ({with_clause})" if with_clause else "")
        )

    def episode_paths(self) -> tuple[str, str]:
        """SQL literals of the episode and position paths (``'{content,turn}'``), written into
        statements so that they match :meth:`episode_index_ddl`'s expressions; the paths are
        dotted names (checked by ``EpisodeFields``), so they need no escaping."""
        episode, position = ("'{" + p.replace(".", ",") + "}'" for p in self.episodes.paths[:2])
        return episode, position

    def episode_index_ddl(self) -> tuple[str, str]:
        """(name, ``CREATE INDEX``) of the index finding an episode's items by position: a
        hybrid search looks up its candidates' neighbours with it, where it would otherwise read
        every item of the namespace. One per pair of paths, so the name carries their digest."""
        episode, position = self.episode_paths()
        digest = hashlib.sha1(f"{episode}|{position}".encode()).hexdigest()[:12]
        name = f"reverie_episode_{digest}"
        return name, (
            f"CREATE INDEX IF NOT EXISTS {name} ON store "
            f"(prefix, (value #>> {episode}), (value #> {position}))"
        )

    def texts(self, op: PutOp) -> list[tuple[str, str]]:
        """``(field_name, text)`` for every text of ``op`` to embed, as LangGraph names them."""
        if op.value is None or op.index is False:
            return []
        paths = self.fields if op.index is None else _tokenized(op.index)
        return _texts_at(op.value, paths)

    def keyword_text(self, op: PutOp) -> str | None:
        """The text keyword search sees for ``op`` (None: none), as the embedded store's."""
        if op.value is None or op.index is False:
            return None
        if op.index is None:
            paths = self.fields if self.keyword_fields is None else self.keyword_fields
        elif isinstance(op.index, IndexFields):
            paths = _tokenized(op.index.keywords)
        else:
            paths = _tokenized(op.index)
        texts = [text for _, text in _texts_at(op.value, paths)]
        return "\n".join(texts) if texts else None


def _tokenized(paths: list[str]) -> tuple[tuple[str, Any], ...]:
    return tuple((p, "$" if p == "$" else tokenize_path(p)) for p in paths)


def _texts_at(
    value: Mapping[str, Any], paths: tuple[tuple[str, Any], ...]
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path, tokens in paths:
        texts = get_text_at_path(dict(value), tokens)
        if len(texts) == 1:
            found.append((path, texts[0]))
        else:
            found.extend((f"{path}.{i}", text) for i, text in enumerate(texts))
    return found


def index_settings(index: Mapping[str, Any] | None) -> IndexSettings | None:
    """Validate ``index``; None means a plain key-value store without vectors."""
    if index is None:
        return None
    try:
        dims = int(index["dims"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            "The index config needs 'dims', the embedding size as a positive integer, e.g. "
            "{'dims': 384, 'embed': 'openai:text-embedding-3-small'}."
        ) from exc
    if dims <= 0 or "embed" not in index:
        raise ConfigurationError(
            "The index config needs a positive 'dims' and an 'embed' model (an Embeddings "
            "object, a 'provider:model' string or a function of a list of texts)."
        )
    distance = str(index.get("distance_type", "cosine"))
    if distance not in _DISTANCES:
        raise ConfigurationError(
            f"Unsupported distance_type {distance!r}; use 'cosine', 'l2' or 'inner_product'."
        )
    ann = dict(index.get("ann_index_config") or {})
    vector_type = str(ann.pop("vector_type", "vector"))
    kind = str(ann.pop("kind", "hnsw"))
    if vector_type not in ("vector", "halfvec") or kind not in ("hnsw", "ivfflat", "flat"):
        raise ConfigurationError(
            f"Unsupported ann_index_config (kind {kind!r}, vector_type {vector_type!r}); use "
            "kind 'hnsw', 'ivfflat' or 'flat' and vector_type 'vector' or 'halfvec'."
        )
    # One reading of fields / keyword_fields, shared with default_index_fields().
    chosen = default_fields(index)
    fields = list(chosen) if chosen is not None else ["$"]
    embeddings = ensure_embeddings(index["embed"])
    keyword_fields = None
    if chosen is not None and "keyword_fields" in index:
        keyword_fields = _tokenized(chosen.keywords)
    return IndexSettings(
        keyword_fields=keyword_fields,
        episodes=EpisodeFields.from_config(index.get("episode_fields")),
        dims=dims,
        embeddings=embeddings,
        fields=_tokenized(fields),
        distance_type=distance,
        vector_type=vector_type,
        ann_kind=kind,
        ann_parameters=_ann_parameters(kind, ann),
    )


def _ann_parameters(kind: str, given: dict[str, Any]) -> dict[str, int]:
    """The index build parameters, as integers only: they are written into DDL."""
    allowed = _ANN_PARAMETERS.get(kind, ())
    parameters: dict[str, int] = {}
    for name, value in given.items():
        if name not in allowed:
            continue
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"ann_index_config[{name!r}] must be a positive integer, got {value!r}."
            ) from exc
        if number > 0:
            parameters["lists" if name == "nlist" else name] = number
    return parameters
