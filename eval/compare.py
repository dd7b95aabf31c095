"""Side-by-side runs of this tracker and the dlib peer: error, jitter and frames/s with ratios."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tracker.errors import InputError
from tracker.metrics import nme
from tracker.eval.peers import DlibPeer
from tracker.eval.steadiness import video_jitter
from tracker.network.still_faces import predict_faces
from tracker.datasets.vw300 import find_sequences
from tracker.detection import create_detector
from tracker.geometry import crop_from_points
from tracker.jobs.pipeline import PipelineConfig, build_tracker
from tracker.network.factory import PredictorConfig, build_predictor
from tracker.network.crop_predictor import CropPredictor
from tracker.detection.base import iou
from tracker.tracking.face_tracker import FaceTracker, crop_box
from tracker.io.video import VideoReader


def _pct(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean() * 100) if finite.size else None


def _dlib_face(faces: list[np.ndarray], gt: np.ndarray) -> np.ndarray | None:
    box = crop_box(crop_from_points(gt))
    best = max(faces, key=lambda f: iou(box, crop_box(crop_from_points(f))), default=None)
    return best if best is not None and iou(box, crop_box(crop_from_points(best))) > 0 else None


def compare_stills(root: Path, predictor: CropPredictor, peer: DlibPeer) -> dict[str, dict[str, Any]]:
    """Common-subset faces: ours with the protocol box; dlib with its own detector (misses counted)."""
    from tracker.datasets import load_image_rgb, w300

    faces = w300.load_split(root, "common").faces
    ours = nme(predict_faces(predictor, faces), np.stack([f.points for f in faces]), "inter_pupil")
    theirs = []
    for face in faces:
        pts = _dlib_face(peer.faces(load_image_rgb(face.image_path)), face.points)
        theirs.append(nme(pts[None], face.points[None], "inter_pupil")[0] if pts is not None else np.inf)
    theirs = np.array(theirs)
    found = np.isfinite(theirs)
    return {
        "sa-tracker": {"faces": len(faces), "missed": 0, "nme_ip": _pct(ours), "nme_ip_on_dlib_found": _pct(ours[found])},
        "dlib": {"faces": len(faces), "missed": int((~found).sum()), "nme_ip": _pct(theirs), "nme_ip_on_dlib_found": _pct(theirs)},
    }


def compare_sequences(root: Path, tracker_factory, peer: DlibPeer) -> dict[str, dict[str, Any]]:
    """Per difficulty level (sequence name prefix), 300-VW error; missed frames are failures."""
    from tracker.eval.video import evaluate_sequence

    sequences, _ = find_sequences(root)
    ours: dict[str, list[np.ndarray]] = {}
    theirs: dict[str, list[np.ndarray]] = {}
    for seq in sequences:
        level = seq.name.split("_")[0]
        ours.setdefault(level, []).append(evaluate_sequence(seq, tracker_factory).errors["nme_io"])
        notes = seq.annotations()
        errs = []
        for frame in seq.frames():
            if frame.index in notes and frame.image is not None:
                pts = _dlib_face(peer.faces(frame.image), notes[frame.index])
                errs.append(nme(pts[None], notes[frame.index][None], "inter_ocular")[0] if pts is not None else np.inf)
        theirs.setdefault(level, []).append(np.array(errs))
    rows = {}
    for level in sorted(ours):
        a, b = np.concatenate(ours[level]), np.concatenate(theirs[level])
        rows[f"level {level}"] = {"frames": len(a), "ours_nme_io": _pct(a), "ours_missed": int((~np.isfinite(a)).sum()),
                                  "dlib_nme_io": _pct(b), "dlib_missed": int((~np.isfinite(b)).sum())}
    return rows


def compare_video(path: Path, tracker: FaceTracker, peer: DlibPeer) -> dict[str, dict[str, Any]]:
    """Landmarks only (decode excluded, same frames in memory): frames/s and jitter for both."""
    with VideoReader(path) as reader:
        images = [f.image for f in reader if f.image is not None]
    rows = {}
    for name, run in (("sa-tracker", lambda im: {f.face_id: f.points for f in tracker.step(im)}),
                      ("dlib", lambda im: {i: p for i, p in enumerate(peer.faces(im))})):
        start = time.perf_counter()
        per_frame = [run(im) for im in images]
        seconds = time.perf_counter() - start
        # dlib has no identities: face k of a frame is chained to face k of the next (fine for one face)
        value, _, _ = video_jitter(per_frame)
        rows[name] = {"frames": len(images), "frames_with_face": sum(bool(f) for f in per_frame),
                      "fps": len(images) / seconds, "jitter_io": value}
    rows["sa-tracker"]["speed_vs_dlib"] = rows["sa-tracker"]["fps"] / rows["dlib"]["fps"]
    rows["dlib"]["speed_vs_dlib"] = 1.0
    return rows


def run_comparison(w300_root: Path | None, sequences: Path | None, video: Path | None, weights: Path | None,
                   device: str, upsample: int) -> dict[str, Any]:
    config = PipelineConfig(PredictorConfig(weights, device))
    predictor = build_predictor(config.predictor)
    peer = DlibPeer(upsample)

    def make_tracker() -> FaceTracker:
        return FaceTracker(predictor, create_detector(config.detector), config.tracking)

    tables: dict[str, dict[str, dict[str, Any]]] = {}
    if w300_root is not None:
        tables["300-W common (still faces)"] = compare_stills(w300_root, predictor, peer)
    if sequences is not None:
        tables["stress sequences (300-VW error, outer-eye-corner normalised)"] = compare_sequences(sequences, make_tracker, peer)
    if video is not None:  # the tracker exactly as `tracker run` builds it (threads, frozen networks)
        tracker = build_tracker(config)
        tables[f"video {video.name} (landmarks only, frames in memory)"] = compare_video(video, tracker, peer)
        tracker.close()
    if not tables:
        raise InputError("give at least one of --w300-root, --sequences, --video")
    return {"protocol": "compare", "peer": f"dlib 68-point shape predictor, HOG detector upsample {upsample}", "tables": tables}
