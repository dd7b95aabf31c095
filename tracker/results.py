"""One face's result, as the tracker, the API and every writer see it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from tracker.detection.base import Box

if TYPE_CHECKING:
    from tracker.pose import HeadPose

Source = Literal["detected", "tracked"]  # in a video: found by the detector on this frame, or followed


@dataclass(frozen=True)
class Face:
    """One face's landmarks: ``points`` (N, 2) image pixels (smoothed in a video where smoothing is on),
    ``point_confidence`` (N,) heatmap peaks in [0, 1], and ``confidence`` their mean; ``face_score`` is
    p(face) from the model's face check (the mean point confidence for weights without one).
    ``face_id`` is the track's id and ``source`` how the face was found, in a video (None for stills);
    ``pose`` the head pose (yaw, pitch, roll in degrees, rotation, translation; docs/pose.md) from
    ``points``, and in a video ``raw_pose`` from the unsmoothed points (None where none was fitted)."""

    points: np.ndarray
    point_confidence: np.ndarray
    face_id: int | None = None
    face_score: float = float("nan")
    source: Source | None = None
    pose: HeadPose | None = None
    raw_pose: HeadPose | None = None

    @property
    def confidence(self) -> float:
        """Mean of the point confidences."""
        return float(self.point_confidence.mean())

    @property
    def box(self) -> Box:
        """The landmarks' bounding box."""
        (x0, y0), (x1, y1) = self.points.min(axis=0), self.points.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)
