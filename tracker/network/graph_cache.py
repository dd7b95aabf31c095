"""Where built inference graphs are cached (TorchScript and ONNX), without importing PyTorch.

``SA_TRACKER_CACHE`` sets the folder (default ``$XDG_CACHE_HOME/sa-tracker/graphs`` or
``~/.cache/sa-tracker/graphs``); ``SA_TRACKER_CACHE=off`` disables caching.
"""
from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

CACHE_ENV = "SA_TRACKER_CACHE"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # tracker/


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


def source_digest(digest: hashlib._Hash, sources: tuple[str, ...]) -> None:
    """Feed this package's ``sources`` (paths under tracker/) into ``digest``: code baked into a graph."""
    for name in sources:
        digest.update(name.encode())
        digest.update((PACKAGE_DIR / name).read_bytes())
