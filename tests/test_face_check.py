"""The learned face check: stored with the weights, scored by the predictor, obeyed by the tracker,
and trainable to tell a constellation of peaks from noise."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.conftest import make_model, write_w300_folder
from tracker.detection import BoxCalibration, Detection
from tracker.models import FaceCheck, FaceCheckConfig, load_weights, save_weights
from tracker.network.codec import MIN_MEAN_PEAK
from tracker.network.predictor import LandmarkPredictor
from tracker.tracking.face_tracker import FaceTracker, TrackerConfig
from tracker.train.face_check import CropSet, FaceCheckTraining, face_probabilities, make_crop_set, precision_recall, train_face_check


def model_with_check(logit: float, threshold: float = 0.6):
    model = make_model()
    check = FaceCheck(replace(FaceCheckConfig(), threshold=threshold)).eval()
    torch.nn.init.zeros_(check.classify.weight)
    torch.nn.init.constant_(check.classify.bias, logit)  # p(face) = sigmoid(logit) for every crop
    model.face_check = check
    return model


class FixedDetector:
    calibration = BoxCalibration()

    def __init__(self) -> None:
        self.exhaustive: list[bool] = []

    def detect(self, image, exhaustive=False):
        self.exhaustive.append(exhaustive)
        return [Detection((8.0, 8.0, 40.0, 40.0), 1.0)]


def test_face_check_travels_with_the_weights_and_sets_the_predictors_score(tmp_path):
    save_weights(tmp_path / "w.pt", model_with_check(2.0, threshold=0.6))
    loaded = load_weights(tmp_path / "w.pt")
    assert loaded.face_check is not None and loaded.face_check.config.threshold == 0.6
    predictor = LandmarkPredictor(loaded)
    assert predictor.face_threshold == 0.6
    image = np.full((48, 48, 3), 90, np.uint8)
    from tracker.geometry import FaceCrop

    out = predictor.predict_scored([image], [FaceCrop(24, 24, 30)])
    assert out.face_score[0] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=2e-3)  # stored in fp16
    plain = LandmarkPredictor(make_model())  # no face check: the mean heatmap peak, with its old threshold
    assert plain.face_threshold == MIN_MEAN_PEAK
    scored = plain.predict_scored([image], [FaceCrop(24, 24, 30)])
    assert scored.face_score[0] == pytest.approx(scored.confidence[0].mean())


@pytest.mark.parametrize("logit, tracked", [(-6.0, False), (6.0, True)])
def test_tracker_keeps_only_crops_the_face_check_accepts(logit, tracked):
    tracker = FaceTracker(LandmarkPredictor(model_with_check(logit)), FixedDetector(), TrackerConfig(smoothing=False))
    faces = [tracker.step(np.full((48, 48, 3), 90, np.uint8)) for _ in range(3)]
    assert all(bool(f) == tracked for f in faces)
    if tracked:
        assert faces[-1][0].face_score == pytest.approx(1 / (1 + np.exp(-6.0)), abs=2e-3)
    forced = FaceTracker(LandmarkPredictor(model_with_check(logit)), FixedDetector(), TrackerConfig(smoothing=False, min_face_score=0.0))
    assert forced.step(np.full((48, 48, 3), 90, np.uint8))  # the config's threshold overrides the model's


@pytest.mark.parametrize("logit, exhaustive", [(-6.0, [True] * 6), (6.0, [True, False])])
def test_searches_while_nothing_is_tracked_are_exhaustive_and_periodic_detections_are_not(logit, exhaustive):
    detector = FixedDetector()
    config = TrackerConfig(smoothing=False, search_every=1, redetect_every=5, detection_lag=0)
    tracker = FaceTracker(LandmarkPredictor(model_with_check(logit)), detector, config)
    for _ in range(6):
        tracker.step(np.full((48, 48, 3), 90, np.uint8))
    assert detector.exhaustive == exhaustive


def test_a_tracked_face_is_kept_until_its_score_falls_below_the_lower_keep_threshold():
    model = model_with_check(0.0, threshold=0.6)  # p(face) = 0.5 on every crop: under 0.6, over 0.6 x 0.6
    detector = FixedDetector()
    image = np.full((48, 48, 3), 90, np.uint8)
    assert not FaceTracker(LandmarkPredictor(model), detector, TrackerConfig(smoothing=False)).step(image)  # a new face must pass 0.6
    tracker = FaceTracker(LandmarkPredictor(model), detector, TrackerConfig(smoothing=False, min_face_score=0.4))
    assert tracker.step(image)
    tracker.config = replace(tracker.config, min_face_score=0.6)
    assert tracker.step(image)  # tracked: kept down to 0.36
    tracker.config = replace(tracker.config, keep_score_ratio=1.0)
    assert not tracker.step(image)


def _peaks_or_noise(rng, n, layout, points=68, size=8):
    """Positives: one sharp peak per map at the face's ``layout`` (jittered); negatives: weak noise."""
    maps = rng.uniform(0, 0.2, (n, points, size, size)).astype(np.float32)
    labels = rng.random(n) < 0.5
    for i in np.nonzero(labels)[0]:
        jitter = rng.integers(-1, 2, (points, 2))
        y, x = np.clip(layout + jitter, 0, size - 1).T
        maps[i, np.arange(points), y, x] = rng.uniform(0.5, 1.0, points)
    return CropSet(torch.from_numpy(maps).half(), torch.from_numpy(labels.astype(np.float32)), ["face" if l else "texture" for l in labels])


def test_training_separates_faces_from_non_faces_on_held_out_maps():
    rng = np.random.default_rng(0)
    layout = rng.integers(1, 7, (68, 2))  # where each landmark's peak sits on a face, in both sets
    train, test = _peaks_or_noise(rng, 400, layout), _peaks_or_noise(rng, 200, layout)
    cfg = replace(FaceCheckTraining(), epochs=8, batch_size=32)
    model = train_face_check(train, cfg)
    row = precision_recall(face_probabilities(model, test), test, 0.5)
    assert row["precision"] > 95 and row["recall"] > 95, row
    assert row["accepted_texture"] < 5


def test_crop_set_holds_positives_and_every_negative_kind(tmp_path):
    from tracker.datasets.w300 import load_split
    from tracker.train.face_check import NEGATIVE_KINDS

    write_w300_folder(tmp_path / "w300", 3)
    faces = load_split(tmp_path / "w300", "train").faces
    cfg = FaceCheckTraining()
    crops = make_crop_set(LandmarkPredictor(make_model()), faces, cfg, seed=0, batch=4)
    per_face = cfg.positives_per_face + cfg.negatives_per_kind * len(NEGATIVE_KINDS)
    assert crops.maps.shape == (3 * per_face, 68, 4, 4) and crops.maps.dtype == torch.float16  # 8x8 maps pooled by 2
    assert int(crops.labels.sum()) == 3 * cfg.positives_per_face
    assert set(crops.kinds) == {"face", *NEGATIVE_KINDS}


def test_the_dim_video_crops_are_a_second_set_of_the_same_kinds(tmp_path, monkeypatch):
    from tracker.datasets.w300 import load_split
    from tracker.train import face_check

    write_w300_folder(tmp_path / "w300", 2)
    faces = load_split(tmp_path / "w300", "train").faces
    coded = []
    real = face_check.photometric
    monkeypatch.setattr(face_check, "photometric", lambda rng, image, cfg: coded.append(cfg.compression_prob) or real(rng, image, cfg))
    predictor = LandmarkPredictor(make_model())
    sets = face_check.crop_sets(predictor, faces, FaceCheckTraining(), seed=0)
    assert list(sets) == ["lit", "dim video"]
    assert sets["lit"].kinds == sets["dim video"].kinds and torch.equal(sets["lit"].labels, sets["dim video"].labels)
    half = len(coded) // 2
    assert set(coded[:half]) == {0.0} and set(coded[half:]) == {1.0}  # the second set, and only it, is coded
    only_lit = face_check.crop_sets(predictor, faces, replace(FaceCheckTraining(), dim_video_augment=None), seed=0)
    assert list(only_lit) == ["lit"]


def test_face_check_command_stores_the_threshold_it_is_given(tmp_path, tiny_weights):
    import subprocess
    import sys

    write_w300_folder(tmp_path / "w300", 3)
    write_w300_folder(tmp_path / "w300", 2, seed=1, subset="lfpw/testset")
    out = tmp_path / "checked.pt"
    args = ["face-check", "--root", str(tmp_path / "w300"), "--weights", str(tiny_weights), "--out", str(out), "--epochs", "1", "--threshold", "0.3"]
    result = subprocess.run([sys.executable, "-m", "tracker", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "held-out dim video p >= 0.5" in result.stdout
    assert load_weights(out).face_check.config.threshold == 0.3
