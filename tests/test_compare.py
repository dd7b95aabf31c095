import json
import shutil

import pytest
from typer.testing import CliRunner

from tracker.cli import _add_plugins, app
from tracker.network.weights_registry import default_weights_path

_add_plugins()
runner = CliRunner()


def test_compare_with_dlib_on_faces_sequences_and_video(shared_data, tmp_path):
    pytest.importorskip("dlib", reason="the dlib peer is the optional extra 'peers'")
    if not default_weights_path().is_file():
        pytest.skip("no default weights in assets/ yet")
    faces = tmp_path / "w300" / "lfpw" / "testset"
    faces.mkdir(parents=True)
    for name in ("image_0001", "image_0002", "image_0003"):
        for suffix in (".jpg", ".pts"):
            shutil.copy(shared_data / "300W" / "lfpw" / "testset" / f"{name}{suffix}", faces)
    seqs = tmp_path / "seqs"
    made = runner.invoke(app, ["eval", "make-sequences", "--images", str(faces), "--out", str(seqs), "--count", "1", "--frames", "4", "--levels", "1"])
    assert made.exit_code == 0, made.output
    out = tmp_path / "cmp.json"
    result = runner.invoke(app, ["eval", "compare", "--w300-root", str(tmp_path / "w300"), "--sequences", str(seqs),
                                 "--video", str(seqs / "1_image_0001" / "vid.avi"), "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    tables = json.loads(out.read_text())["tables"]
    stills = tables["300-W common (still faces)"]
    assert stills["sa-tracker"]["faces"] == 3 and stills["dlib"]["nme_ip"] < 10  # dlib finds and fits real faces
    assert stills["sa-tracker"]["nme_ip"] < 15
    level = tables["stress sequences (300-VW error, outer-eye-corner normalised)"]["level 1"]
    assert level["frames"] == 4 and level["ours_nme_io"] is not None
    video = next(v for k, v in tables.items() if k.startswith("video"))
    assert video["dlib"]["speed_vs_dlib"] == 1.0 and video["sa-tracker"]["fps"] > 0
