"""The tracker's bookkeeping with a stand-in network: how many faces, duplicates, crop levelling; detector plugins."""
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.conftest import symmetric_shape
from tracker.detection import create_detector
from tracker.detection.base import BoxCalibration, Detection
from tracker.detection.registry import DETECTOR_GROUP, available_detectors, register_detector
from tracker.geometry import CROP_SCALE, FaceCrop
from tracker.network.predictor import FacePredictions
from tracker.tracking.face_tracker import FaceTracker, TrackerConfig

SHAPE = symmetric_shape(np.random.default_rng(0))  # within [-1, 1]^2, upright


@dataclass
class ShapePredictor:
    """Answers every crop with a face filling it as the canonical crop frames one, rolled by ``roll``;
    ``snap_to`` puts every answer on one place instead (two tracks converging on one face)."""

    roll: float = 0.0
    snap_to: FaceCrop | None = None
    crops: list[FaceCrop] = field(default_factory=list)
    face_threshold: float = 0.5

    def predict_scored(self, images, crops):
        self.crops.extend(crops)
        c, s = np.cos(self.roll), np.sin(self.roll)
        rotation = np.array([[c, -s], [s, c]])
        points = []
        for crop in crops:
            at = self.snap_to or crop
            points.append(at.size / CROP_SCALE / 2 * SHAPE @ rotation.T + (at.cx, at.cy))
        n = len(crops)
        return FacePredictions(np.array(points).reshape(n, 68, 2), np.ones((n, 68)), np.ones(n))

    def close(self):
        pass


class BoxesDetector:
    calibration = BoxCalibration()

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image, exhaustive=False):
        return [Detection(b, 1.0) for b in self.boxes]


def boxes_in_a_row(count: int, side: float = 40.0) -> list[tuple[float, float, float, float]]:
    return [(10 + 60 * i, 10.0, 10 + 60 * i + side, 10 + side) for i in range(count)]


def tracker(predictor, boxes, **config) -> FaceTracker:
    return FaceTracker(predictor, BoxesDetector(boxes), TrackerConfig(smoothing=False, detection_lag=0, **config))


IMAGE = np.full((120, 400, 3), 80, np.uint8)


def test_max_faces_caps_the_tracks_keeps_the_first_found_and_says_so(caplog):
    capped = tracker(ShapePredictor(), boxes_in_a_row(5), max_faces=3)
    with caplog.at_level("WARNING", logger="tracker.tracking.face_tracker"):
        faces = capped.step(IMAGE)
        capped.step(IMAGE)
    assert [r.getMessage() for r in caplog.records].count(
        "frame 0 holds more than 3 faces: the first 3 are tracked (max_faces, --max-faces)") == 1  # once a run
    assert [f.face_id for f in faces] == [0, 1, 2]
    xs = sorted(f.points[:, 0].mean() for f in faces)
    assert xs[-1] < 10 + 60 * 3  # the three leftmost boxes: detection order
    with caplog.at_level("WARNING", logger="tracker.tracking.face_tracker"):
        caplog.clear()
        assert len(tracker(ShapePredictor(), boxes_in_a_row(5)).step(IMAGE)) == 5
    assert caplog.records == []


def test_tracks_that_converge_on_one_face_are_merged_keeping_the_older():
    predictor = ShapePredictor()
    faces_tracker = tracker(predictor, boxes_in_a_row(2), redetect_every=1000)
    assert [f.face_id for f in faces_tracker.step(IMAGE)] == [0, 1]
    predictor.snap_to = FaceCrop(100.0, 40.0, 60.0)  # both tracks now find the same face
    assert [f.face_id for f in faces_tracker.step(IMAGE)] == [0]
    assert len(faces_tracker.tracks) == 1


@pytest.mark.parametrize("derotate", [True, False])
def test_derotate_levels_the_next_crop_by_the_eye_line_or_keeps_it_upright(derotate):
    predictor = ShapePredictor(roll=np.deg2rad(25))
    faces_tracker = tracker(predictor, boxes_in_a_row(1), derotate=derotate, redetect_every=1000, refine_new_faces=False)
    faces_tracker.step(IMAGE)
    predictor.crops.clear()
    faces_tracker.step(IMAGE)
    (crop,) = predictor.crops
    assert crop.angle == (pytest.approx(np.deg2rad(25), abs=1e-6) if derotate else 0.0)  # the symmetric shape's eyes are level


def test_detectors_come_from_the_registry_and_from_entry_points(monkeypatch):
    class Marker(BoxesDetector):
        def __init__(self):
            super().__init__([])

    register_detector("marker-test", Marker)
    assert "marker-test" in available_detectors() and isinstance(create_detector("marker-test"), Marker)

    class EntryPoint:
        name = "plugin-test"

        def load(self):
            return Marker

    def entry_points(group):
        return [EntryPoint()] if group == DETECTOR_GROUP else []

    monkeypatch.setattr("tracker.detection.registry.entry_points", entry_points)
    assert "plugin-test" in available_detectors()
    assert isinstance(create_detector("plugin-test"), Marker)
    with pytest.raises(ValueError, match="unknown detector 'nope'"):
        create_detector("nope")
