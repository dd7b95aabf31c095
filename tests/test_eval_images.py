"""``tracker eval images``: any folder of image + .pts pairs, with the ground-truth box or the product's detector."""
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.golden import load_golden
from tracker.eval.cli import app
from tracker.io.pts import write_pts

LEVELLED_PASS_PX = 3.0  # the detector path's second, levelled pass moves points a little from the box's answer


def _folder(tmp_path):
    """The golden portrait annotated with its golden points, and a face-free image annotated as if it held them."""
    case = load_golden()[1]["portrait"]
    tmp_path.mkdir()
    cv2.imwrite(str(tmp_path / "portrait.png"), cv2.cvtColor(case.image, cv2.COLOR_RGB2BGR))
    write_pts(tmp_path / "portrait.pts", case.points)
    cv2.imwrite(str(tmp_path / "wall.png"), np.full_like(case.image, 128))
    hidden = case.points.copy()
    hidden[:17] = -2.0  # an unlabelled jaw: -1 -1 in the 1-based file
    write_pts(tmp_path / "wall.pts", hidden)
    return tmp_path, case


def _run(folder, boxes, out, *extra):
    result = CliRunner().invoke(app, ["images", str(folder), "--boxes", boxes, "--device", "cpu", "--json", str(out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_the_detector_finds_the_real_face_and_a_face_free_image_is_a_failure(tmp_path):
    folder, case = _folder(tmp_path / "data")
    result = _run(folder, "detector", tmp_path / "d.json")["rows"]["sa-tracker"]
    assert result["n_faces"] == 2 and result["n_found"] == 1 and result["n_missed"] == 1
    inter_pupil = np.linalg.norm(case.points[36:42].mean(0) - case.points[42:48].mean(0))
    assert result["nme_ip"] < 100 * LEVELLED_PASS_PX / inter_pupil  # its own points, found again
    assert result["fr_0.10"] == pytest.approx(50.0)  # the missed face fails


def test_ground_truth_boxes_score_every_face(tmp_path):
    folder, _ = _folder(tmp_path / "data")
    result = _run(folder, "ground-truth", tmp_path / "g.json")["rows"]["sa-tracker"]
    assert result["n_faces"] == result["n_found"] == 2
    assert result["nme_ip"] is not None


def test_a_folder_without_pairs_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["images", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 1 and result.output.startswith("error: no image + .pts pairs")


def test_an_unknown_box_rule_is_a_one_line_error(tmp_path):
    folder, _ = _folder(tmp_path / "data")
    result = CliRunner().invoke(app, ["images", str(folder), "--boxes", "guess", "--device", "cpu"])
    assert result.exit_code == 1 and result.output.startswith("error: --boxes is one of detector, ground-truth")


def test_dlib_is_scored_under_the_same_detector_rule(tmp_path):
    pytest.importorskip("dlib", reason="the dlib row needs the [peers] extra")
    folder, _ = _folder(tmp_path / "data")
    rows = _run(folder, "detector", tmp_path / "d.json", "--dlib")["rows"]
    dlib = rows["dlib (its own detector)"]
    assert dlib["n_faces"] == 2 and dlib["n_found"] == 1  # the portrait found, the blank wall not
