"""`tracker eval detection`'s benchmark: pasted faces land where their truth says, and the scoring
counts found faces and false hits as it should (checked with oracle, blind and trigger-happy detectors)."""
import numpy as np

from tracker.eval.detection import DIM_FACE, DIM_WIDTH, ROLLS, WIDTHS, CheckedSearch, make_benchmark, paste_face, score_detector
from tests.conftest import write_w300_folder
from tracker.datasets import load_image_rgb
from tracker.datasets.w300 import load_split
from tracker.detection import BoxCalibration, Detection


class OracleDetector:
    """Finds exactly the pasted face: it reads the truth from the benchmark image."""

    calibration = BoxCalibration()

    def __init__(self, truths: dict[int, tuple[float, float, float, float]]) -> None:
        self.truths = truths

    def detect(self, image, exhaustive=False):
        box = self.truths.get(id(image))
        return [Detection(box, 1.0)] if box else []


class AlwaysDetector:
    calibration = BoxCalibration()

    def detect(self, image, exhaustive=False):
        return [Detection((0.0, 0.0, 50.0, 50.0), 0.5)]


def _faces(tmp_path, count=4):
    write_w300_folder(tmp_path / "w300", count)
    return load_split(tmp_path / "w300", "train").faces


def test_a_pasted_face_is_where_its_truth_says_at_the_asked_width_and_roll(tmp_path):
    from tracker.geometry import CROP_SCALE, eye_line_angle

    face = _faces(tmp_path, 1)[0]
    rng = np.random.default_rng(0)
    image = load_image_rgb(face.image_path)
    dark = np.zeros((360, 640, 3), np.uint8)
    upright = paste_face(dark, image, face, 60, 0.0, rng)
    assert upright.truth.size == np.float64(60 * CROP_SCALE)
    rolled = paste_face(dark, image, face, 60, 45.0, rng)
    turned = np.rad2deg(rolled.truth.angle - eye_line_angle(face.points))
    assert abs(abs(turned) - 45.0) < 1e-6
    for item in (upright, rolled):  # the synthetic face's dots are bright: the brightest pixels lie inside the truth's crop
        grey = item.image.astype(float).mean(axis=2)
        ys, xs = np.nonzero(grey >= np.percentile(grey, 99.9))
        half = item.truth.size / 2
        assert np.all(np.abs(xs - item.truth.cx) < half) and np.all(np.abs(ys - item.truth.cy) < half)


def test_scores_count_found_faces_and_false_hits(tmp_path):
    pasted, free = make_benchmark(_faces(tmp_path), seed=1)
    dim = [p for p in pasted if p.kind == DIM_FACE]
    assert len(pasted) == 4 * len(WIDTHS) * len(ROLLS) + len(dim) and len(dim) == 4
    assert all(d.width == DIM_WIDTH and d.image.mean() < 60 for d in dim)
    assert {f.kind for f in free} >= {"texture"} and all(f.truth is None for f in free)
    truths = {}
    for item in pasted:
        t = item.truth
        truths[id(item.image)] = (t.cx - t.size / 2, t.cy - t.size / 2, t.cx + t.size / 2, t.cy + t.size / 2)
    oracle = score_detector(OracleDetector(truths), pasted, free)
    assert oracle.recall() == 100.0 and sum(oracle.false_images.values()) == 0
    assert oracle.row()["recall_dim"] == 100.0 and len(oracle.dim_found) == 4
    blind = score_detector(OracleDetector({}), pasted, free)
    assert blind.recall() == 0.0 and blind.row()["recall_dim"] == 0.0
    eager = score_detector(AlwaysDetector(), pasted, free)
    assert sum(eager.false_images.values()) == len(free)
    row = eager.row()
    assert row["false_per_100"] == 100.0 and row["false_hits"] == f"{len(free)} / {len(free)}"


def test_a_checked_search_keeps_only_the_faces_the_face_check_accepts():
    from tests.test_face_check import model_with_check
    from tracker.network.predictor import LandmarkPredictor

    class Recording(AlwaysDetector):
        exhaustive = None

        def detect(self, image, exhaustive=False):
            self.exhaustive = exhaustive
            return super().detect(image)

    image = np.full((80, 80, 3), 90, np.uint8)
    for logit, kept in ((6.0, 1), (-6.0, 0)):
        detector = Recording()
        search = CheckedSearch(detector, LandmarkPredictor(model_with_check(logit)))
        assert len(search.detect(image)) == kept
        assert detector.exhaustive is True  # the tracker's search after refusing every face
