"""Where the default weights live and how to load any weights file.

``pip install .`` installs the repository's ``assets/`` as ``tracker/assets``; in a source checkout
or an editable install they are read from ``assets/`` beside the package.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tracker.errors import WeightsError

if TYPE_CHECKING:  # the weights module imports PyTorch; the ONNX runtime path only needs the file's path
    from tracker.models import LandmarkModel

DEFAULT_WEIGHTS = "compact_300w.pt"
_PACKAGE = Path(__file__).resolve().parents[1]  # tracker/


def assets_dir() -> Path:
    installed = _PACKAGE / "assets"
    return installed if installed.is_dir() else _PACKAGE.parent / "assets"


def default_weights_path() -> Path:
    return assets_dir() / DEFAULT_WEIGHTS


def weights_path(path: Path | None = None) -> Path:
    """``path``, or the bundled default weights when None; a missing file is an input error."""
    if path is None:
        path = default_weights_path()
        if not path.is_file():
            raise WeightsError(f"no default weights installed at {path}; pass --weights FILE")
    elif not Path(path).is_file():
        raise WeightsError(f"weights file not found: {path}")
    return Path(path)


def load_model(path: Path | None = None, device: str = "cpu") -> LandmarkModel:
    """Load ``path`` or, without one, the bundled default weights (offline)."""
    from tracker.models import load_weights

    return load_weights(weights_path(path), map_location=device)
