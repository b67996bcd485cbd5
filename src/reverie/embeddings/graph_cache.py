"""Built query graphs kept on disk, so only the first process on a machine builds one.

Building the onnxruntime query graph imports ``onnx`` (about 0.6 s, most of it its ``ml_dtypes``
dependency) and quantizes the weights; loading a kept graph takes onnxruntime ~0.1 s. A graph
is derived from the installed weights only, so it is kept under a key of the weights files
(path, size, modification time), the calibration texts' tokens and this code's graph version.
The folder is ``$REVERIE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/reverie`` (default
``~/.cache/reverie``); a folder that cannot be written only means the graph is built each time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

CACHE_ENV = "REVERIE_CACHE_DIR"
# Raise when the graph built from the same weights changes, so kept graphs are not reused.
GRAPH_VERSION = 1
logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "reverie"


def graph_key(model_dir: Path, calibration_ids: Sequence[Sequence[int]], settings: str) -> str:
    """A name for the graph of these weights, calibration tokens and builder ``settings``."""
    digest = hashlib.sha256(f"v{GRAPH_VERSION}|{settings}|{model_dir}".encode())
    for name in ("model.safetensors", "config.json"):
        try:
            stat = (model_dir / name).stat()
        except OSError:
            continue
        digest.update(f"|{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(repr([list(ids) for ids in calibration_ids]).encode())
    return f"minilm-query-{digest.hexdigest()[:24]}.onnx"


def read_graph(key: str) -> bytes | None:
    try:
        return (cache_dir() / key).read_bytes()
    except OSError:
        return None


def write_graph(key: str, graph: bytes) -> None:
    """Keep ``graph`` under ``key``: written whole to a temporary file, then renamed, so a
    process reading concurrently sees the old file, the new one or none, never a part."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".onnx")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(graph)
            os.replace(temporary, folder / key)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.debug("Could not keep the query graph in %s: %s", folder, exc)


__all__ = ["CACHE_ENV", "cache_dir", "graph_key", "read_graph", "write_graph"]
