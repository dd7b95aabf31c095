"""Where the default weights live (``assets/``, installed as ``tracker.assets``) and how to load any."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from tracker.models import LandmarkModel, WeightsError, load_weights

DEFAULT_WEIGHTS = "compact_300w.pt"


def default_weights_path() -> Path:
    return Path(str(resources.files("tracker.assets").joinpath(DEFAULT_WEIGHTS)))


def load_model(path: Path | None = None, device: str = "cpu") -> LandmarkModel:
    """Load ``path`` or, without one, the bundled default weights (offline)."""
    if path is None:
        path = default_weights_path()
        if not path.is_file():
            raise WeightsError(f"no default weights installed at {path}; pass --weights FILE")
    return load_weights(path, map_location=device)
