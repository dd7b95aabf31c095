import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import write_w300_folder
from tests.test_datasets import _vw_sequence
from tracker.cli import app, _add_plugins
from tracker.weights_registry import default_weights_path

_add_plugins()
runner = CliRunner()
SUMMARY_KEYS = {"protocol", "n_missed", "nme_io", "auc_0.08", "fr_0.08", "auc_0.10", "fr_0.10"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_eval_300w_cli_json_and_absent_subsets(tmp_path, tiny_weights):
    write_w300_folder(tmp_path / "w300", 3, subset="lfpw/testset")
    out = tmp_path / "r.json"
    result = invoke("eval", "300w", "--root", tmp_path / "w300", "--weights", tiny_weights, "--device", "cpu", "--json", out, "--ced", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert "helen/testset" in result.output
    data = json.loads(out.read_text())
    assert SUMMARY_KEYS | {"subset", "n_faces", "nme_ip"} <= set(data)
    assert data["n_faces"] == 3 and data["absent"] == ["helen/testset"] and (tmp_path / "c.png").is_file()


def test_eval_300w_missing_root_is_one_line(tmp_path, tiny_weights):
    result = invoke("eval", "300w", "--root", tmp_path / "nope", "--weights", tiny_weights)
    assert result.exit_code == 1 and result.output.strip().startswith("error: 300-W root not found")


@pytest.mark.parametrize("init", ["detector", "ground-truth"])
def test_eval_300vw_on_a_vid_avi_layout(tmp_path, tiny_weights, init):
    _vw_sequence(tmp_path / "vw", "401", frames=4)
    _vw_sequence(tmp_path / "vw", "custom_seq", frames=4, layout="frames")
    out = tmp_path / "r.json"
    result = invoke("eval", "300vw", "--root", tmp_path / "vw", "--videos", "found", "--init", init,
                    "--weights", tiny_weights, "--device", "cpu", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert SUMMARY_KEYS | {"category", "n_frames", "per_category", "per_video"} <= set(data)
    assert set(data["per_video"]) == {"401", "custom_seq"} and data["n_frames"] == 4  # 2 annotated frames each
    assert f"initialisation: {init}" in result.output
    if init == "ground-truth":
        assert data["per_video"]["401"]["n_missed"] < 2  # the seeded first frame always has a prediction
    else:
        assert data["n_missed"] == 4  # random weights: the detector's boxes are rejected, every frame a failure
        assert data["fr_0.08"] == 100.0


def test_eval_300vw_official_category_reports_absent_videos(tmp_path, tiny_weights):
    _vw_sequence(tmp_path / "vw", "401", frames=2)
    result = invoke("eval", "300vw", "--root", tmp_path / "vw", "--category", "1", "--weights", tiny_weights, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "30 requested video(s) absent" in result.output


def test_eval_on_real_300vw_frames_with_default_weights(shared_data, tmp_path):
    if not default_weights_path().is_file():
        pytest.skip("no default weights in assets/ yet")
    out = tmp_path / "r.json"
    result = invoke("eval", "300vw", "--root", shared_data / "300VW_frames", "--videos", "found", "--device", "cpu", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n_frames"] == 4 and set(data["per_video"]) == {"001", "401"}
    assert np.isfinite(data["nme_io"])
