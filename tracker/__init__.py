"""sa-tracker: video face-landmark tracking with Semantic Alignment (CVPR 2019) hourglass + GHCU.

The public API (``tracker.api``): ``Landmarker`` (still images), ``VideoTracker`` (videos, cameras,
frame sequences), their results ``Face`` and ``FrameResult``, and ``HeadPose`` / ``PoseConfig`` (a face's
pose, the camera it assumes). They are imported on first use, so
``import tracker`` stays light.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Face", "FrameResult", "HeadPose", "Landmarker", "PoseConfig", "VideoTracker"]

# The training and evaluation code lives in the repository's train/ and eval/ folders, which
# `pip install` maps to tracker.train and tracker.eval (pyproject.toml). In a source checkout they sit
# beside this package, so the checkout root is searched for subpackages too: the same names work
# there (e.g. `python -m tracker.train fit` on a machine with only a copy of the repository).
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "train" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))

if TYPE_CHECKING:
    from tracker.api import Face, FrameResult, HeadPose, Landmarker, PoseConfig, VideoTracker


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tracker import api

        return getattr(api, name)
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
