import numpy as np
import pytest
import torch

from tests.conftest import make_model
from tracker.geometry import FaceCrop
from tracker.markup import flip_points
from tracker.network.options import GraphOptions
from tracker.network.predictor import LandmarkPredictor


def test_flip_test_prediction_is_mirror_equivariant():
    torch.manual_seed(0)
    model = make_model(ghcu=False)
    for p in model.hourglass.parameters():  # make the random heatmaps peaky enough to decode
        p.data.mul_(3.0)
    # plain decoding: smoothing the near-flat maps of a random network leaves near-ties that rounding breaks
    predictor = LandmarkPredictor(model, "cpu", GraphOptions(ghcu=False, flip_test=True, dark_decoding=False))
    crops = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    a = predictor.predict_batch(crops).points.numpy()
    b = predictor.predict_batch(np.ascontiguousarray(crops[:, :, ::-1])).points.numpy()
    np.testing.assert_allclose(flip_points(b, 32), a, atol=1e-4)


def test_predict_maps_back_to_image_pixels_and_handles_no_crops():
    predictor = LandmarkPredictor(make_model(), "cpu")
    image = np.zeros((100, 150, 3), np.uint8)
    pts, conf = predictor.predict(image, [FaceCrop(75, 50, 40), FaceCrop(30, 30, 20, 0.3)])
    assert pts.shape == (2, 68, 2) and conf.shape == (2, 68)
    assert np.all(np.abs(pts[0] - [75, 50]) <= 20 + 1e-6)  # inside its crop
    empty, none = predictor.predict(image, [])
    assert empty.shape == (0, 68, 2) and none.shape == (0, 68)


def test_norm_predicts_again_on_the_crop_levelled_by_the_first_answer(monkeypatch):
    from tracker.geometry import eye_line_angle, levelled_crop

    predictor = LandmarkPredictor(make_model(), "cpu")
    image = np.random.default_rng(1).integers(0, 255, (100, 150, 3), dtype=np.uint8)
    first, _ = predictor.predict(image, [FaceCrop(75, 50, 40)])
    seen = []
    real = predictor._predict_crops
    monkeypatch.setattr(predictor, "_predict_crops", lambda images, crops: seen.append(list(crops)) or real(images, crops))
    normed, _ = predictor.predict(image, [FaceCrop(75, 50, 40)], norm=True)
    assert len(seen) == 2 and seen[1] == [levelled_crop(first[0])]
    assert seen[1][0].angle == eye_line_angle(first[0])
    expected = real([image], [levelled_crop(first[0])]).points
    np.testing.assert_allclose(normed, expected)


def test_dark_crops_are_contrast_equalised_before_the_network_and_bright_ones_left_alone():
    from tracker.network.dark_crops import DARK_CROP_LUMA

    rng = np.random.default_rng(0)
    dark = rng.integers(0, int(DARK_CROP_LUMA / 2), (32, 32, 3)).astype(np.uint8)
    bright = rng.integers(80, 200, (32, 32, 3)).astype(np.uint8)
    predictor = LandmarkPredictor(make_model())
    lit = predictor._lit(dark)
    assert lit.std() > 2 * dark.std()  # the dim picture's contrast is stretched
    assert predictor._lit(bright) is bright
    assert LandmarkPredictor(make_model(), equalise_dark=False)._lit(dark) is dark


def test_faces_split_over_threads_give_the_batched_answer():
    model = make_model()
    crops = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    one = LandmarkPredictor(model, "cpu")
    split = LandmarkPredictor(model, "cpu", face_threads=3)
    try:
        a, b = one.predict_batch(crops), split.predict_batch(crops)
        assert split._pool is not None  # the split really happened
        torch.testing.assert_close(b.points, a.points, atol=1e-4, rtol=0)
        torch.testing.assert_close(b.confidence, a.confidence, atol=1e-5, rtol=0)
        assert b.heatmaps.shape == a.heatmaps.shape
        assert split.predict_batch(crops[:1]).points.shape == (1, 68, 2)
    finally:
        split.close()
    assert split._pool is None
    with pytest.raises(ValueError, match="face_threads"):
        LandmarkPredictor(model, "cpu", face_threads=0)


def test_building_a_predictor_leaves_the_caller_s_model_as_it_was():
    """Training keeps stepping its model after each check: the predictor must not switch it to eval
    mode, move it or change its memory layout, and must not see later weight updates."""
    model = make_model()
    model.hourglass.train()
    model.ghcu.train()
    before = {k: v.clone() for k, v in model.hourglass.state_dict().items()}
    predictor = LandmarkPredictor(model, "cpu")
    crops = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    first = predictor.predict_batch(crops).heatmaps
    assert model.hourglass.training and model.ghcu.training
    weight = next(p for p in model.hourglass.parameters() if p.dim() == 4)
    assert weight.is_contiguous()  # not turned channels-last
    for name, value in model.hourglass.state_dict().items():
        assert torch.equal(value, before[name]), name
    with torch.no_grad():
        weight.add_(1.0)  # a training step after the predictor was built
    torch.testing.assert_close(predictor.predict_batch(crops).heatmaps, first, atol=0, rtol=0)
