"""The horizontal convention end to end, and the per-point offsets that remove a learnt shift."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.conftest import make_model, synthetic_face, write_w300_folder
from tracker.datasets import load_face_image, mirror_face
from tracker.datasets.w300 import load_split
from tracker.metrics import inter_pupil, signed_error
from tracker.geometry import crop_from_points, from_crop
from tracker.markup import flip_points
from tracker.models import load_weights, save_weights
from tracker.network.codec import decode, heatmap_to_input, input_to_heatmap, render_gaussians
from tracker.network.options import GraphOptions
from tracker.network.predictor import LandmarkPredictor
from tracker.train.augment import geometric
from tracker.train.config import AugmentConfig
from tracker.train.point_offsets import measure_on_crops

INPUT = 128
STRIDE = 4


def _decode_input_points(points: np.ndarray) -> np.ndarray:
    """Training targets of crop-pixel ``points``, rendered and decoded as the predictor decodes them."""
    target = render_gaussians(input_to_heatmap(torch.tensor(points[None]), STRIDE), INPUT // STRIDE, 1.0)
    found, _ = decode(target)
    return heatmap_to_input(found, STRIDE)[0].numpy()


@pytest.mark.parametrize("flip", [False, True])
def test_rendered_flipped_encoded_decoded_face_has_no_signed_error(flip):
    """A synthetic face with known points through the training warp (with and without its flip), the
    heatmap targets and the decoder, then back to the image: no systematic shift in x or y."""
    rng = np.random.default_rng(3)
    image, truth = synthetic_face(rng)
    canonical = crop_from_points(truth)
    still = AugmentConfig(rotation_sigma_deg=0, scale_sigma=0, translate_sigma=0, flip_prob=float(flip))
    crop_image, crop_points, matrix, flipped = geometric(rng, image, truth, canonical, INPUT, still)
    assert flipped == flip
    decoded = _decode_input_points(crop_points)
    if flipped:  # mirror the answer back, as flip-test does
        decoded = flip_points(decoded, INPUT)
    back = from_crop(decoded, canonical, INPUT)
    signed = signed_error(back[None], truth[None])[0]
    assert np.abs(signed).max() < 1e-4
    # and the dots really sit where the labels say: the crop's brightest pixel near each label is on it
    gray = crop_image[..., 0].astype(float)
    for x, y in crop_points[[0, 8, 16, 30, 36, 45]]:
        ix, iy = int(round(x)), int(round(y))
        window = gray[iy - 2 : iy + 3, ix - 2 : ix + 3]
        dy, dx = np.unravel_index(window.argmax(), window.shape)
        assert abs(ix - 2 + dx - x) <= 1 and abs(iy - 2 + dy - y) <= 1


def test_mirrored_sample_mirrors_pixels_and_points_together(tmp_path):
    write_w300_folder(tmp_path / "w300", 1)
    face = load_split(tmp_path / "w300", "train").faces[0]
    mirrored = mirror_face(face)
    image, flipped_image = load_face_image(face), load_face_image(mirrored)
    np.testing.assert_array_equal(flipped_image, image[:, ::-1])
    np.testing.assert_allclose(mirrored.points, flip_points(face.points, image.shape[1]))
    twice = mirror_face(mirrored)
    assert not twice.mirrored
    np.testing.assert_allclose(twice.points, face.points)


def test_signed_error_is_the_mean_shift_over_the_inter_pupil_distance():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (3, 68, 2))
    shift = np.array([-1.5, 0.5])
    signed = signed_error(gt + shift, gt)
    np.testing.assert_allclose(signed, shift / inter_pupil(gt)[:, None])


def test_point_offsets_remove_a_model_s_mean_signed_error_and_travel_with_the_weights(tmp_path):
    model = make_model(ghcu=False)
    rng = np.random.default_rng(0)
    size = model.config.input_size
    crops = rng.integers(0, 255, (12, size, size, 3), dtype=np.uint8)
    raw = LandmarkPredictor(model, "cpu", GraphOptions(ghcu=False)).predict_batch(crops).points.numpy()
    shift = np.array([0.7, -0.2])
    annotated = raw - shift + rng.normal(0, 0.3, raw.shape)  # predictions sit `shift` off, with scatter
    offsets = measure_on_crops(model, crops, annotated)
    assert offsets.shape == (68, 2)
    np.testing.assert_allclose(offsets.mean(axis=0) * size, shift, atol=0.15)
    path = tmp_path / "w.pt"
    save_weights(path, replace(model, point_offsets=offsets))
    loaded = load_weights(path)
    np.testing.assert_allclose(loaded.point_offsets, offsets)
    corrected = LandmarkPredictor(loaded, "cpu", GraphOptions(ghcu=False)).predict_batch(crops).points.numpy()
    np.testing.assert_allclose((corrected - annotated).mean(axis=0), 0.0, atol=0.01)  # fp16-stored weights
    # the offsets are in crop sides: on a crop twice the size in the image they are twice the pixels
    image = np.zeros((200, 200, 3), np.uint8)
    small, large = crop_from_points(np.array([[80.0, 80], [120, 120]])), crop_from_points(np.array([[60.0, 60], [140, 140]]))
    predictor, plain = LandmarkPredictor(loaded, "cpu", GraphOptions(ghcu=False)), LandmarkPredictor(model, "cpu", GraphOptions(ghcu=False))
    moved = [(plain.predict(image, [c])[0] - predictor.predict(image, [c])[0]).mean(axis=1)[0] for c in (small, large)]
    np.testing.assert_allclose(moved[1], 2 * moved[0], rtol=1e-3)


def test_weights_with_malformed_point_offsets_are_refused(tmp_path):
    from tracker.models import WeightsError

    path = tmp_path / "w.pt"
    save_weights(path, replace(make_model(ghcu=False), point_offsets=np.zeros((5, 2))))
    with pytest.raises(WeightsError, match="point offsets"):
        load_weights(path)
