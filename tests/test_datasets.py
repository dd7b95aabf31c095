import numpy as np
import pytest

from tests.conftest import write_video, write_w300_folder
from tracker.datasets import vw300, w300
from tracker.io.pts import write_pts


def test_300w_splits_and_absent_subsets(tmp_path):
    write_w300_folder(tmp_path, 3, subset="lfpw/trainset")
    write_w300_folder(tmp_path, 2, subset="afw", seed=1)
    write_w300_folder(tmp_path, 2, subset="lfpw/testset", seed=2)
    train = w300.load_split(tmp_path, "train")
    assert len(train.faces) == 5 and train.missing == ["helen_train"]
    assert "helen/trainset" in train.describe_missing()
    common = w300.load_split(tmp_path, "common")
    assert len(common.faces) == 2 and common.missing == ["helen_test"]
    with pytest.raises(FileNotFoundError, match="ibug"):
        w300.load_split(tmp_path, "challenge")
    with pytest.raises(ValueError, match="unknown"):
        w300.load_split(tmp_path, "nonsense")


def test_real_300w_folder_counts(shared_data):
    train = w300.load_split(shared_data / "300W", "train")
    assert len(train.faces) == 805 + 870 + 337
    assert w300.load_split(shared_data / "300W", "common").missing == ["helen_test"]


def _vw_sequence(root, name, frames=4, layout="video"):
    folder = root / name
    (folder / "annot").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = [np.full((48, 64, 3), 60, np.uint8) for _ in range(frames)]
    if layout == "video":
        write_video(folder / "vid.avi", images)
    else:
        import cv2

        (folder / "imgs").mkdir()
        for i, im in enumerate(images):
            cv2.imwrite(str(folder / "imgs" / f"{i + 1:06d}.jpg"), im)
    for i in range(0, frames, 2):
        write_pts(folder / "annot" / f"{i + 1:06d}.pts", rng.uniform(10, 40, (68, 2)))
    return folder


@pytest.mark.parametrize("layout", ["video", "frames"])
def test_300vw_both_layouts(tmp_path, layout):
    _vw_sequence(tmp_path, "401", layout=layout)
    (tmp_path / "not_a_sequence").mkdir()
    found, absent = vw300.find_sequences(tmp_path)
    assert [s.name for s in found] == ["401"] and absent == []
    seq = found[0]
    assert sorted(seq.annotations()) == [0, 2]
    frames = list(seq.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3] and frames[0].image.shape == (48, 64, 3)
    chosen, absent = vw300.find_sequences(tmp_path, ["401", "114"])
    assert [s.name for s in chosen] == ["401"] and absent == ["114"]


def test_300vw_category_lists():
    assert [len(vw300.CATEGORIES[c]) for c in (1, 2, 3)] == [31, 19, 14]
    assert "401" in vw300.CATEGORIES[1] and "410" in vw300.CATEGORIES[3]


def test_real_300vw_frames(shared_data):
    found, _ = vw300.find_sequences(shared_data / "300VW_frames")
    assert [s.name for s in found] == ["001", "401"]
    assert sorted(found[1].annotations()) == [730, 731]


def test_aflw_reader_splits_and_boxes(tmp_path):
    scipy_io = pytest.importorskip("scipy.io", reason="the AFLW reader needs scipy (extra 'aflw')")
    from tracker.datasets import aflw

    n = 20_003
    rng = np.random.default_rng(0)
    data = rng.uniform(10, 100, (n, 38))
    mask = np.ones((n, 19))
    ra = rng.permutation(n) + 1
    mask[ra[20_000] - 1, 3] = 0  # first test face has a hidden point: not frontal
    names = np.empty((n, 1), dtype=object)
    names[:, 0] = [f"img/{i}.jpg" for i in range(n)]
    boxes = np.tile([11.0, 61.0, 21.0, 81.0], (n, 1))  # left, right, top, bottom
    scipy_io.savemat(tmp_path / "AFLWinfo_release.mat", {"bbox": boxes, "data": data, "mask_new": mask, "nameList": names, "ra": ra[None]})
    full = aflw.load(tmp_path / "AFLWinfo_release.mat", tmp_path, "full")
    frontal = aflw.load(tmp_path / "AFLWinfo_release.mat", tmp_path, "frontal")
    assert len(full) == 3 and len(frontal) == 2
    first = full[0]
    i = ra[20_000] - 1
    np.testing.assert_allclose(first.points[:, 0], data[i, :19] - 1)
    np.testing.assert_allclose(first.points[:, 1], data[i, 19:] - 1)
    assert first.box == (10.0, 20.0, 60.0, 80.0) and not first.visible[3]
    assert first.image_path == tmp_path / f"img/{i}.jpg"
