"""Temporal steadiness on unannotated video: frame-to-frame jitter with the face's own motion removed.

Each frame's landmarks are aligned to the track's mean shape by the least-squares similarity
(Umeyama), which removes head translation, scale and roll; jitter is the mean norm of the second
difference over time of the aligned points, divided by the mean shape's inter-ocular distance. A
still face tracked steadily scores near 0; a tracker that shakes scores high even when its
per-frame error is small, and smooth motion (first-order) is not penalised.
"""
from __future__ import annotations

import numpy as np

from tracker.metrics import inter_ocular


def similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` (N, 2) mapped onto ``target`` by the least-squares similarity."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, d])
    rot = u @ fix @ vt
    scale = (sigma * np.diag(fix)).sum() / max((s**2).sum(), 1e-12)
    return scale * s @ rot.T + mu_t


def jitter(track: np.ndarray) -> tuple[float, int]:
    """(jitter as a fraction of inter-ocular distance, number of second differences) for (T, N, 2)."""
    if len(track) < 3:
        return float("nan"), 0
    reference = track.mean(axis=0)
    for _ in range(2):  # refine the reference as the mean of the aligned shapes
        aligned = np.stack([similarity_align(p, reference) for p in track])
        reference = aligned.mean(axis=0)
    second = aligned[2:] - 2 * aligned[1:-1] + aligned[:-2]
    return float(np.linalg.norm(second, axis=-1).mean() / inter_ocular(reference)), len(second)


def video_jitter(per_frame: list[dict[int, np.ndarray]]) -> tuple[float | None, int, int]:
    """Jitter (% of inter-ocular distance) over every track run of a video, weighted by run length.

    Returns (jitter or None, track runs scored, second differences).
    """
    scored = [(j, n) for j, n in (jitter(t) for t in tracks_from_frames(per_frame)) if n > 0]
    total = sum(n for _, n in scored)
    value = sum(j * n for j, n in scored) / total * 100 if total else None
    return value, len(scored), total


def tracks_from_frames(frames: list[dict[int, np.ndarray]]) -> list[np.ndarray]:
    """Runs of consecutive frames per face id, from per-frame {face_id: points} maps."""
    runs: list[np.ndarray] = []
    open_runs: dict[int, list[np.ndarray]] = {}
    for faces in frames + [{}]:
        for face_id in list(open_runs):
            if face_id not in faces:
                runs.append(np.stack(open_runs.pop(face_id)))
        for face_id, pts in faces.items():
            open_runs.setdefault(face_id, []).append(pts)
    return runs
