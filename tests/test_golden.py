"""The default weights on a real portrait, framed several ways, give the stored golden points on both
back-ends (ONNX Runtime and PyTorch). Regenerate the file with ``python -m tests.golden`` after the
default weights change."""
import numpy as np
import pytest

from tests.golden import CASES, load_golden, predict_case, sha256
from tracker.network.weights_registry import default_weights_path

GOLDEN_TOLERANCE_PX = 0.5
# A network's answer on a mirrored face is close to, not exactly, the mirrored answer (measured: 1.2 / 7.0 px).
MIRROR_MEAN_PX = 2.0
MIRROR_MAX_PX = 10.0


def test_the_golden_file_belongs_to_the_default_weights():
    stored, cases = load_golden()
    assert stored == sha256(default_weights_path()), "default weights changed: regenerate with python -m tests.golden"
    assert set(cases) == set(CASES)


@pytest.mark.parametrize("onnx_runtime", [True, False], ids=["onnxruntime", "pytorch"])
@pytest.mark.parametrize("name", list(CASES))
def test_points_match_the_golden_ones(name: str, onnx_runtime: bool):
    golden = load_golden()[1][name]
    points = predict_case(name, onnx_runtime)
    assert np.abs(points - golden.points).max() < GOLDEN_TOLERANCE_PX


def test_the_golden_points_are_a_face_s():
    """The stored points themselves: the mirrored case mirrors the portrait's, point for point."""
    from tracker.markup import FLIP_PERMUTATION

    cases = load_golden()[1]
    width = cases["portrait"].image.shape[1]
    mirrored = cases["mirrored"].points[FLIP_PERMUTATION]
    mirrored[:, 0] = width - mirrored[:, 0]
    assert np.abs(mirrored - cases["portrait"].points).mean() < MIRROR_MEAN_PX
    assert np.abs(mirrored - cases["portrait"].points).max() < MIRROR_MAX_PX
