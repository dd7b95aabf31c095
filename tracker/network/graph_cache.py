"""The one cache of built inference graphs: each weights file's ONNX landmark graph, keyed by content.

The key hashes the weights file, the options that shape the graph, every source file of the code
baked into it (all of ``tracker/models/``, ``tracker/network/`` and ``tracker/markup.py``: no
hand-kept list to forget), and the PyTorch and ONNX versions that wrote it. A later run finds the
graph by that key without importing PyTorch; a change to any of those rebuilds it.

``SA_TRACKER_CACHE`` sets the folder (default ``$XDG_CACHE_HOME/sa-tracker/graphs`` or
``~/.cache/sa-tracker/graphs``); ``SA_TRACKER_CACHE=off`` disables caching.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from tracker.network.options import GraphOptions

CACHE_ENV = "SA_TRACKER_CACHE"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # tracker/
GRAPH_SOURCES = ("models", "network", "markup.py")  # under tracker/: the code an exported graph holds
READ_CHUNK = 1 << 20


def graph_cache_dir() -> Path | None:
    """Where built graphs are kept, or None when caching is off."""
    value = os.environ.get(CACHE_ENV, "")
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sa-tracker" / "graphs"


def package_version(name: str) -> str:
    """An installed distribution's version, read without importing it ("absent" when not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def source_files() -> list[Path]:
    """Every Python file of ``GRAPH_SOURCES``, in a fixed order."""
    files: list[Path] = []
    for name in GRAPH_SOURCES:
        path = PACKAGE_DIR / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def graph_key(weights: Path, options: GraphOptions) -> str:
    """A digest of everything that determines the exported graph of ``weights`` under ``options``."""
    digest = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode())
    digest.update(f"torch {package_version('torch')} onnx {package_version('onnx')}".encode())
    for path in source_files():
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    with open(weights, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return f"landmarks-{digest.hexdigest()[:24]}"


def landmark_graph(weights: Path, options: GraphOptions) -> Path:
    """The ONNX graph of ``weights`` under ``options``: from the cache, else exported (and cached).

    Where the cache cannot be written (caching off, a read-only home, a full disk) the graph goes to a
    scratch folder that is removed when the process exits.
    """
    folder = graph_cache_dir()
    key = graph_key(weights, options)
    if folder is not None and (folder / f"{key}.onnx").is_file():
        return folder / f"{key}.onnx"
    from tracker.models import load_weights
    from tracker.network.onnx_export import export_landmark_graph

    model = load_weights(weights)
    if folder is not None:
        try:
            return export_landmark_graph(model, folder / f"{key}.onnx", options)
        except OSError:  # the cache folder cannot be made or written: run without it
            pass
    scratch = Path(tempfile.mkdtemp(prefix="sa-tracker-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return export_landmark_graph(model, scratch / f"{key}.onnx", options)
