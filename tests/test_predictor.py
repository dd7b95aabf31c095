import numpy as np
import torch

from tests.conftest import make_model
from tracker.geometry import FaceCrop
from tracker.markup import flip_points
from tracker.network.predictor import LandmarkPredictor


def test_flip_test_prediction_is_mirror_equivariant():
    torch.manual_seed(0)
    model = make_model(ghcu=False)
    for p in model.hourglass.parameters():  # make the random heatmaps peaky enough to decode
        p.data.mul_(3.0)
    # plain decoding: smoothing the near-flat maps of a random network leaves near-ties that rounding breaks
    predictor = LandmarkPredictor(model, "cpu", use_ghcu=False, flip_test=True, modulation_sigma=None)
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
