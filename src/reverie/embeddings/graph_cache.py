"""Built query graphs kept on disk, so only the first process on a machine builds one.

Building the onnxruntime query graph imports ``onnx`` (about 0.6 s, most of it its ``ml_dtypes``
dependency) and quantizes the weights; loading a kept graph takes onnxruntime ~0.1 s. A graph
is derived from the installed weights only, so it is kept under a key of the weights files
(path, size, modification time), the calibration texts' tokens and this code's graph version.
The folder is ``$REVERIE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/reverie`` (default
``~/.cache/reverie``); a folder that cannot be written only means the graph is built each time.
Graphs of replaced weights or of an earlier version of this code are deleted once nobody has
read them for 30 days.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

CACHE_ENV = "REVERIE_CACHE_DIR"
# Raise when the graph built from the same weights changes, so kept graphs are not reused.
GRAPH_VERSION = 2  # 2: token embeddings summed outside the graph
PREFIX = "minilm-query-"
# Graphs nobody read for this long are deleted when a new one is written.
UNUSED_FOR_S = 30 * 24 * 3600.0
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
    return f"{PREFIX}{digest.hexdigest()[:24]}.onnx"


def read_graph(key: str) -> bytes | None:
    path = cache_dir() / key
    try:
        graph = path.read_bytes()
    except OSError:
        return None
    with contextlib.suppress(OSError):  # marks it in use, so pruning keeps it (below)
        os.utime(path)
    return graph


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
        return
    prune(folder, keep=key)


def prune(folder: Path, keep: str, unused_for: float = UNUSED_FOR_S) -> None:
    """Delete the graphs in ``folder`` other than ``keep`` not read or written for
    ``unused_for`` seconds (those of replaced weights or an earlier Reverie), and files a
    crashed write left. A graph still in use elsewhere is read, so it stays."""
    cutoff = time.time() - unused_for
    for path in [*folder.glob(f"{PREFIX}*.onnx"), *folder.glob(".partial-*.onnx")]:
        try:
            if path.name != keep and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:  # gone already, or not ours to delete
            continue


__all__ = ["CACHE_ENV", "cache_dir", "graph_key", "prune", "read_graph", "write_graph"]
