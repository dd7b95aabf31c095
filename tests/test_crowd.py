"""`tracker eval crowd`: the clip's truth is where the faces are, and coverage / id changes / stray
tracks are counted as they should be (oracle trackers built from the truth)."""
import numpy as np

from tracker.eval.crowd import CrowdSpec, evaluate_crowd, make_crowd
from tests.conftest import write_w300_folder
from tracker.datasets.w300 import load_split
from tracker.results import Face
from tracker.io.video import VideoReader


class TruthTracker:
    """Reports the true faces of each frame; ``swap_at`` exchanges two ids from that frame on."""

    def __init__(self, truth, swap_at=None, stray=False, hide=()):
        self.truth, self.t, self.swap_at, self.stray, self.hide = truth, -1, swap_at, stray, hide

    def step(self, image):
        self.t += 1
        faces = []
        for k, points in enumerate(self.truth[self.t]):
            if k in self.hide:
                continue
            face_id = k
            if self.swap_at is not None and self.t >= self.swap_at and k < 2:
                face_id = 1 - k
            faces.append(Face(points, np.ones(len(points)), face_id, source="tracked"))
        if self.stray:
            corner = np.random.default_rng(0).uniform(0, 3, (68, 2))  # a "face" in the top-left corner, where none is
            faces.append(Face(corner, np.ones(68), 99, source="tracked"))
        return faces


def test_crowd_clip_and_its_scores(tmp_path):
    write_w300_folder(tmp_path / "w300", 4)
    faces = load_split(tmp_path / "w300", "train").faces
    spec = CrowdSpec(faces=3, frames=6, widths=(30.0, 50.0), max_roll=0.0)  # upright: the landmark box is the width
    clip, truth_path = make_crowd(faces, tmp_path / "crowd", spec, size=(480, 270))
    truth = np.load(truth_path)
    assert truth.shape == (6, 3, 68, 2)
    widths = np.ptp(truth, axis=2).max(axis=-1)
    assert np.all((widths >= 30 - 1e-6) & (widths <= 50 + 1e-6))
    with VideoReader(clip) as reader:
        first = next(iter(reader)).image
    for points in truth[0]:  # the synthetic faces' dots are bright where the truth says
        x, y = np.round(points).astype(int).T
        assert first[np.clip(y, 0, 269), np.clip(x, 0, 479)].mean() > 100
    perfect = evaluate_crowd(clip, truth, TruthTracker(truth))
    assert perfect["min_coverage"] == 100.0 and perfect["id_changes"] == 0 and perfect["stray_tracks"] == 0
    swapped = evaluate_crowd(clip, truth, TruthTracker(truth, swap_at=3, stray=True, hide=(2,)))
    assert swapped["id_changes"] == 2 and swapped["stray_tracks"] == 6
    assert swapped["min_coverage"] == 0.0 and swapped["faces_at_90"] == 2
