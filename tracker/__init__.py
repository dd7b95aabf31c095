"""sa-tracker: video face-landmark tracking with Semantic Alignment (CVPR 2019) hourglass + GHCU.

The public API (``tracker.api``): ``Landmarker`` (still images), ``VideoTracker`` (videos, cameras,
frame sequences), their results ``Face`` and ``FrameResult``, and ``HeadPose`` / ``PoseConfig`` (a face's
pose, the camera it assumes). They are imported on first use, so
``import tracker`` stays light.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "DrawConfig", "Face", "FrameResult", "GraphOptions", "HeadPose", "Landmarker", "PoseConfig", "TrackerConfig", "VideoTracker",
]

if TYPE_CHECKING:
    from tracker.api import (
        DrawConfig, Face, FrameResult, GraphOptions, HeadPose, Landmarker, PoseConfig, TrackerConfig, VideoTracker,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tracker import api

        return getattr(api, name)
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
