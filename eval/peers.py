"""dlib's 68-point shape predictor as a peer, run as its users run it: HOG detector, then the predictor.

Optional extra ``[peers]``: ``dlib-bin`` and ``face-recognition-models`` (which bundles dlib's
trained 68-point model; located with ``importlib.util.find_spec`` because importing the package
needs ``pkg_resources``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tracker.timing import NULL_TIMER, StageTimer
from tracker.results import Face

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
DLIB_UPSAMPLE = 1  # dlib's face_landmark_detection.py example calls detector(img, 1)


def dlib_model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ImportError("the dlib peer needs: pip install 'sa-tracker[peers]' (dlib-bin, face-recognition-models)")
    path = Path(spec.origin).parent / "models" / MODEL_FILE
    if not path.is_file():
        raise ImportError(f"dlib's 68-point model not found at {path}")
    return path


class DlibPeer:
    def __init__(self, upsample: int = DLIB_UPSAMPLE) -> None:
        try:
            import dlib
        except ImportError:
            raise ImportError("the dlib peer needs: pip install 'sa-tracker[peers]' (dlib-bin, face-recognition-models)") from None
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in self.detector(image, self.upsample)]

    def landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        rect = self.dlib.rectangle(*(int(round(v)) for v in box))
        shape = self.predictor(image, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def faces(self, image: np.ndarray) -> list[np.ndarray]:
        """Every detected face's 68 points, as a user's per-frame dlib loop produces them."""
        return [self.landmarks(image, box) for box in self.detect(image)]


class DlibTracker:
    """dlib's per-frame loop behind the pipeline's tracker interface: HOG detection, then the predictor.

    It has no confidences (reported as 1) and no identities (face k of a frame gets id k).
    """

    def __init__(self, peer: DlibPeer, timer: StageTimer = NULL_TIMER) -> None:
        self.peer = peer
        self.timer = timer

    def step(self, image: np.ndarray) -> list[Face]:
        with self.timer.stage("detect"):
            boxes = self.peer.detect(image)
        with self.timer.stage("landmarks"):
            shapes = [self.peer.landmarks(image, box) for box in boxes]
        return [Face(pts, np.ones(len(pts)), i, source="detected") for i, pts in enumerate(shapes)]

    def close(self) -> None:
        pass
