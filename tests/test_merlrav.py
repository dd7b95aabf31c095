"""The AFLW_MERLRAV reader and the masking of self-occluded points in training and scoring."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import synthetic_face
from tracker.datasets import dataset_of, merlrav, mirror_face, protocol_crop
from tracker.metrics import labelled_box, nme
from tracker.io.pts import format_pts
from tracker.network.codec import render_gaussians
from tracker.train.losses import coordinate_loss, heatmap_loss, labelled_points

HIDDEN = [0, 1, 2, 36]  # jaw points and an outer eye corner: self-occluded on a half profile


def _write_split(root, split: str, count: int, hidden=HIDDEN, seed: int = 0) -> list[np.ndarray]:
    folder = root / merlrav.SPLITS[split]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    truths = []
    for i in range(count):
        image, points = synthetic_face(rng, size=120)
        cv2.imwrite(str(folder / f"image{i:05d}.jpg"), image[:, :, ::-1])
        text = format_pts(points).splitlines()
        body = text.index("{") + 1
        for j in hidden:
            text[body + j] = "-1 -1"  # the file's mark for a point with no label
        (folder / f"image{i:05d}.pts").write_text("\n".join(text) + "\n")
        truths.append(points)
    return truths


def test_reader_masks_self_occluded_points_and_frames_faces_by_their_image(tmp_path):
    truths = _write_split(tmp_path, "train", 3)
    faces = merlrav.load(tmp_path, "train")
    assert len(faces) == 3 and {dataset_of(f.name) for f in faces} == {"merlrav"}
    face = faces[0]
    assert not face.visible[HIDDEN].any() and face.visible.sum() == 68 - len(HIDDEN)
    assert np.isnan(face.points[HIDDEN]).all()
    np.testing.assert_allclose(face.points[face.visible], truths[0][face.visible], atol=1e-3)
    crop = protocol_crop(face)  # the image's measured crop, not the (narrower) box of the labelled points
    assert (crop.cx, crop.cy, crop.size) == pytest.approx((59.5 + 0.0034 * 120, 59.5 + 0.0035 * 120, 0.923 * 120))
    mirrored = mirror_face(face)
    assert protocol_crop(mirrored).cx == pytest.approx(119 - crop.cx)
    assert np.isnan(mirrored.points[~mirrored.visible]).all() and mirrored.visible.sum() == face.visible.sum()


def test_reader_measures_its_crop_relation_on_fully_labelled_faces(tmp_path):
    _write_split(tmp_path, "train", 2, hidden=[])
    relation = merlrav.measure_crop_relation(tmp_path)
    assert relation.faces == 2 and 0.3 < relation.side < 1.5


def test_reader_refuses_a_missing_split_and_an_unknown_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="testset"):
        merlrav.load(tmp_path, "test")
    with pytest.raises(ValueError, match="unknown"):
        merlrav.load(tmp_path, "val")


def test_unlabelled_points_carry_no_loss():
    points = torch.tensor([[[5.0, 5.0], [float("nan")] * 2, [10.0, 3.0]]])
    filled, labelled = labelled_points(points)
    assert labelled.tolist() == [[True, False, True]] and torch.isfinite(filled).all()
    target = render_gaussians(filled, 16, 1.0)
    for name in ("mse", "awing"):
        pred = torch.rand(1, 3, 16, 16, requires_grad=True)
        loss = heatmap_loss(name, pred, target, labelled) + coordinate_loss(pred, target, filled, 2, labelled)
        loss.backward()
        assert torch.isfinite(loss)
        assert pred.grad[0, 1].abs().sum() == 0 and pred.grad[0, 0].abs().sum() > 0
        # the same two labelled points alone give the same loss
        alone = heatmap_loss(name, pred[:, [0, 2]], target[:, [0, 2]]) + coordinate_loss(pred[:, [0, 2]], target[:, [0, 2]], filled[:, [0, 2]], 2)
        assert loss.item() == pytest.approx(alone.item(), rel=1e-5)


def test_nme_skips_unlabelled_points_and_normalises_by_the_labelled_box():
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [10.0, 20.0], [np.nan, np.nan]]])
    pred = gt.copy()
    pred[0, :3, 0] += 1.0
    pred[0, 3] = [1e6, 1e6]  # wildly wrong where there is no label: must not count
    labelled = np.isfinite(gt).all(-1)
    boxes = labelled_box(gt)
    np.testing.assert_allclose(boxes, [[0.0, 0.0, 10.0, 20.0]])
    np.testing.assert_allclose(nme(pred, gt, "box", boxes=boxes, visible=labelled), [1.0 / np.sqrt(200.0)])


def test_mixed_training_keeps_unlabelled_points_out_of_every_stage(tmp_path):
    import json

    from tests.conftest import write_w300_folder
    from tests.test_training import _config, make_trainer
    from tracker.datasets.w300 import load_split

    write_w300_folder(tmp_path / "w300", 4)
    _write_split(tmp_path / "merlrav", "train", 4)
    faces = load_split(tmp_path / "w300", "train").faces + merlrav.load(tmp_path / "merlrav", "train")
    trainer = make_trainer(_config(128), faces, faces[:2], tmp_path / "run")
    trainer.run()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == ["baseline"] * 2 + ["sa"] * 2 + ["ghcu"] * 2
    assert all(np.isfinite([r["loss"], r["train_nme_ip"], r["train_nme_merlrav"]]).all() for r in log)
    from tracker.models import load_weights

    assert np.isfinite(load_weights(tmp_path / "run" / "weights" / "final.pt").point_offsets).all()
    labels = trainer.dataset.labels[4:]  # SA searched the labelled points only: the rest stay without a label
    assert np.isnan(labels[:, HIDDEN]).all() and np.isfinite(np.delete(labels, HIDDEN, axis=1)).all()


def test_eval_merlrav_reports_bands_and_signed_error_over_labelled_points(tmp_path, tiny_weights):
    import json

    from tests.test_eval import invoke

    _write_split(tmp_path, "test", 3)
    rows = ["split,stem,yaw_deg"] + [f"testset,image{i:05d},{yaw}" for i, yaw in enumerate((5.0, -45.0, 75.0))]
    (tmp_path / "faces.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "m.json"
    result = invoke("eval", "merlrav", "--root", tmp_path, "--weights", tiny_weights, "--device", "cpu", "--json", out)
    assert result.exit_code == 0, result.output
    assert "sqrt(w*h) of the labelled points' box" in result.output
    report = json.loads(out.read_text())
    assert [report["rows"][k]["n_faces"] for k in ("all", "|yaw| 0-30", "|yaw| 30-60", "|yaw| 60-90")] == [3, 1, 1, 1]
    assert np.isfinite(report["nme_box"]) and np.isfinite(report["signed_x_box"])
    assert report["nme_io"] is None  # outer eye corner 36 has no label on any face: no inter-ocular distance


def test_decoder_floor_is_the_grid_without_sub_pixel_decoding(tmp_path, tiny_weights):
    from tests.conftest import write_w300_folder
    from tests.test_eval import invoke

    write_w300_folder(tmp_path / "w300", 3, subset="lfpw/testset")
    result = invoke("eval", "decoder-floor", "--root", tmp_path / "w300", "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines()[1:]] == ["dark", "taylor", "argmax"]
    from tracker.datasets.w300 import load_split
    from tracker.eval.decoder_floor import decoded_ground_truth
    from tracker.eval.still import still_errors

    faces = load_split(tmp_path / "w300", "lfpw_test").faces
    floor = {d: still_errors(decoded_ground_truth(faces, 128, 4, d), faces)["nme_ip"].mean() * 100 for d in ("dark", "taylor", "argmax")}
    assert floor["taylor"] < 1e-3 and floor["dark"] < 0.05 and floor["argmax"] > 1.0  # the 32x32 grid, undone by the sub-pixel step
