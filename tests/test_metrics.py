import numpy as np
import pytest

from tracker.metrics import NO_JAW, auc, box_size, ced, failure_rate, inter_ocular, inter_pupil, nme


def face(scale: float = 1.0) -> np.ndarray:
    """Eyes on a horizontal line: right eye points centred at (0, 0), left at (10, 0); corners at +-3."""
    pts = np.zeros((68, 2))
    pts[36:42] = [[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]]
    pts[42:48] = pts[36:42] + [10, 0]
    return pts * scale


def test_normalisers_on_a_hand_made_face():
    gt = face()
    assert inter_pupil(gt) == pytest.approx(10.0)
    assert inter_ocular(gt) == pytest.approx(16.0)  # outer corners: 37 at (-3, 0), 46 at (13, 0)
    assert box_size(np.array([0, 0, 4, 9])) == pytest.approx(6.0)


def test_nme_by_normaliser():
    gt = face()[None]
    pred = gt.copy()
    pred[0, :, 0] += 2.0  # every point 2 px off
    assert nme(pred, gt, "inter_pupil")[0] == pytest.approx(0.2)
    assert nme(pred, gt, "inter_ocular")[0] == pytest.approx(0.125)
    assert nme(pred, gt, "box", boxes=np.array([[0, 0, 4, 9]]))[0] == pytest.approx(2 / 6)


def test_nme_over_49_points_and_visibility():
    gt = face()[None]
    pred = gt.copy()
    pred[0, :17] += [3.0, 4.0]  # only the jaw is off, by 5 px
    assert nme(pred, gt, "inter_ocular")[0] == pytest.approx(5 * 17 / 68 / 16)
    assert nme(pred, gt, "inter_ocular", points=NO_JAW)[0] == 0.0
    visible = np.ones((1, 68), bool)
    visible[0, :17] = False
    assert nme(pred, gt, "inter_ocular", visible=visible)[0] == 0.0


def test_ced_auc_and_failure_rate_by_hand():
    errors = np.array([0.01, 0.02, 0.05, 0.2])
    x, y = ced(errors, 0.08, steps=8)
    np.testing.assert_allclose(y, [0, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75])
    # area under the step curve: 0.25 from 0.01, +0.25 from 0.02, +0.25 from 0.05, up to 0.08
    exact = (0.25 * (0.08 - 0.01) + 0.25 * (0.08 - 0.02) + 0.25 * (0.08 - 0.05)) / 0.08
    assert auc(errors, 0.08, steps=8000) == pytest.approx(exact, abs=1e-3)
    assert failure_rate(errors, 0.08) == 0.25
    assert failure_rate(errors, 0.10) == 0.25
    assert auc(np.array([np.inf]), 0.08) == 0.0 and failure_rate(np.array([np.inf]), 0.1) == 1.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        nme(np.zeros((1, 68, 2)), np.zeros((1, 67, 2)))


def test_auc_needs_nothing_numpy_1_lacks(monkeypatch):
    """AUC is the trapezoid rule written out: ``np.trapezoid`` is NumPy 2 only (``np.trapz`` is gone in 2.x)."""
    monkeypatch.delattr(np, "trapezoid", raising=False)
    errors = np.array([0.0, 0.02, 0.04, 0.2])
    x, y = ced(errors, 0.08)
    assert auc(errors, 0.08) == pytest.approx(float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))) / 0.08)
    assert auc(np.zeros(5), 0.08) == pytest.approx(1.0, abs=1e-9)
    assert auc(np.full(5, 1.0), 0.08) == 0.0
