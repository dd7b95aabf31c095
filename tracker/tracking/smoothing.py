"""Temporal smoothing of one face's landmarks with constant-velocity Kalman filters.

Every coordinate is an independent filterpy-style filter (state: position, velocity; the process
noise of a discrete white-noise acceleration, ``white_noise_acceleration``), run batched over all
coordinates with 2x2 covariances instead of one dense 272-state filter. Tests check it against
``filterpy.kalman.KalmanFilter`` step by step, and the process noise against
``filterpy.common.Q_discrete_white_noise``; the runtime does not import filterpy, which pulls in SciPy
and costs start-up time.

Each point's measurement noise grows as its heatmap confidence falls, so sure points follow the
network and unsure ones lean on the motion model. Noise levels are relative to the face size, so
behaviour does not depend on resolution. A jump far beyond the model (a cut, a re-detection
elsewhere) restarts the filter. ``PoseSmoother`` filters the head pose the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.pose import HeadPose, rotation_from_angles


def white_noise_acceleration(var: float, dt: float = 1.0) -> np.ndarray:
    """Process noise (2x2) of a constant-velocity state [position, velocity] driven by a piecewise-constant
    white-noise acceleration of variance ``var`` (filterpy's ``Q_discrete_white_noise(dim=2)``)."""
    return var * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])


@dataclass(frozen=True)
class SmoothingConfig:
    # The balance of lag against jitter: on the stress sequences (LFPW-test faces under a moving virtual
    # camera) and the shared clip's steadiness, 0.01 / 0.003 lagged the motion by more than the network
    # errs (docs/evaluation.md); these follow it at nearly the same steadiness.
    measurement_std: float = 0.02  # x face size, for a point of confidence 1
    acceleration_std: float = 0.01  # x face size per frame^2
    min_confidence: float = 0.05  # confidences are floored here before dividing
    reset_distance: float = 0.25  # x face size: a mean jump above this restarts the filter
    initial_velocity_std: float = 0.05  # x face size per frame


def face_size(points: np.ndarray) -> float:
    span = points.max(axis=0) - points.min(axis=0)
    return float(max(span.max(), 1.0))


class BatchedKalman:
    """Independent 1-D constant-velocity Kalman filters, one per coordinate, dt = 1 frame."""

    def __init__(self, position: np.ndarray, position_var: np.ndarray, velocity_var: float) -> None:
        self.x = np.stack([position, np.zeros_like(position)], axis=-1)  # (M, 2)
        self.P = np.zeros((len(position), 2, 2))
        self.P[:, 0, 0] = position_var
        self.P[:, 1, 1] = velocity_var

    def predict(self, q: np.ndarray) -> None:
        """x <- F x, P <- F P F' + Q with F = [[1, 1], [0, 1]] and a 2x2 ``q`` (or one (M, 2, 2) per filter)."""
        self.x[:, 0] += self.x[:, 1]
        p00, p01, p11 = self.P[:, 0, 0], self.P[:, 0, 1], self.P[:, 1, 1]
        q00, q01, q11 = q[..., 0, 0], q[..., 0, 1], q[..., 1, 1]
        n00 = p00 + 2 * p01 + p11 + q00
        n01 = p01 + p11 + q01
        n11 = p11 + q11
        self.P[:, 0, 0], self.P[:, 0, 1], self.P[:, 1, 0], self.P[:, 1, 1] = n00, n01, n01, n11

    def update(self, z: np.ndarray, r: np.ndarray) -> None:
        """Measure position (H = [1, 0]) with per-filter variance ``r``; Joseph-free standard form."""
        s = self.P[:, 0, 0] + r
        k0, k1 = self.P[:, 0, 0] / s, self.P[:, 1, 0] / s
        y = z - self.x[:, 0]
        self.x[:, 0] += k0 * y
        self.x[:, 1] += k1 * y
        p00, p01, p11 = self.P[:, 0, 0].copy(), self.P[:, 0, 1].copy(), self.P[:, 1, 1].copy()
        self.P[:, 0, 0] = (1 - k0) * p00
        self.P[:, 0, 1] = self.P[:, 1, 0] = (1 - k0) * p01
        self.P[:, 1, 1] = p11 - k1 * p01


class LandmarkSmoother:
    def __init__(self, config: SmoothingConfig = SmoothingConfig()) -> None:
        self.config = config
        self.filter: BatchedKalman | None = None

    def reset(self) -> None:
        self.filter = None

    def __call__(self, points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """Filter one frame's (N, 2) points with (N,) confidences; returns the smoothed points."""
        cfg = self.config
        size = face_size(points)
        z = points.reshape(-1).astype(np.float64)
        conf = np.repeat(np.maximum(confidence, cfg.min_confidence), 2)
        r = (cfg.measurement_std * size / conf) ** 2
        if self.filter is not None and np.abs(z - self.filter.x[:, 0]).mean() > cfg.reset_distance * size:
            self.filter = None
        if self.filter is None:
            self.filter = BatchedKalman(z, r, (cfg.initial_velocity_std * size) ** 2)
            return points.copy()
        q = white_noise_acceleration((cfg.acceleration_std * size) ** 2)
        self.filter.predict(q)
        self.filter.update(z, r)
        return self.filter.x[:, 0].reshape(-1, 2).copy()


UNIT_ACCELERATION_NOISE = white_noise_acceleration(1.0)


@dataclass(frozen=True)
class PoseSmoothingConfig:
    """The head pose's filters: yaw, pitch, roll in degrees; the translation relative to the face's distance."""

    angle_measurement_std: float = 2.0  # degrees
    angle_acceleration_std: float = 0.5  # degrees per frame^2
    translation_measurement_std: float = 0.01  # x distance
    translation_acceleration_std: float = 0.003  # x distance per frame^2
    initial_angle_velocity_std: float = 5.0  # degrees per frame
    initial_translation_velocity_std: float = 0.05  # x distance per frame
    reset_angle: float = 30.0  # degrees: a jump above this in any angle restarts the filters
    reset_translation: float = 0.25  # x distance: a jump above this restarts them


class PoseSmoother:
    """Constant-velocity Kalman filters on (yaw, pitch, roll, tx, ty, tz), as ``LandmarkSmoother`` on points."""

    def __init__(self, config: PoseSmoothingConfig = PoseSmoothingConfig()) -> None:
        self.config = config
        self.filter: BatchedKalman | None = None
        self._measurement_std = np.array([config.angle_measurement_std] * 3 + [config.translation_measurement_std] * 3)
        self._acceleration_std = np.array([config.angle_acceleration_std] * 3 + [config.translation_acceleration_std] * 3)
        self._initial_velocity_std = np.array(
            [config.initial_angle_velocity_std] * 3 + [config.initial_translation_velocity_std] * 3)

    def reset(self) -> None:
        self.filter = None

    def __call__(self, pose: HeadPose) -> HeadPose:
        """Filter one frame's pose; returns the smoothed pose (same camera and fit error)."""
        cfg = self.config
        z = np.array([pose.yaw, pose.pitch, pose.roll, *pose.translation], dtype=np.float64)
        distance = max(float(abs(pose.translation[2])), 1.0)
        per_axis = np.array([1.0, 1.0, 1.0, distance, distance, distance])  # angles as they are; mm x distance
        r = (self._measurement_std * per_axis) ** 2
        if self.filter is not None:
            jump = np.abs(z - self.filter.x[:, 0])
            if jump[:3].max() > cfg.reset_angle or jump[3:].max() > cfg.reset_translation * distance:
                self.filter = None
        if self.filter is None:
            self.filter = BatchedKalman(z, r, 0.0)
            self.filter.P[:, 1, 1] = (self._initial_velocity_std * per_axis) ** 2
            return pose
        self.filter.predict(((self._acceleration_std * per_axis) ** 2)[:, None, None] * UNIT_ACCELERATION_NOISE)
        self.filter.update(z, r)
        yaw, pitch, roll, *translation = self.filter.x[:, 0]
        return HeadPose(float(yaw), float(pitch), float(roll), rotation_from_angles(yaw, pitch, roll),
                        np.array(translation), pose.error, pose.camera)
