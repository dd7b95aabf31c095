import numpy as np
import pytest

from tracker.geometry import CROP_SCALE, FaceCrop, crop_from_points, eye_line_angle, from_crop, to_crop, warp_image


@pytest.mark.parametrize("angle", [0.0, 0.3, -1.2])
def test_crop_and_inverse_round_trip(angle):
    crop = FaceCrop(123.4, 56.7, 88.0, angle)
    pts = np.random.default_rng(0).uniform(0, 200, (68, 2))
    np.testing.assert_allclose(from_crop(to_crop(pts, crop, 128), crop, 128), pts, atol=1e-9)


def test_crop_maps_centre_to_centre_and_size_to_output():
    crop = FaceCrop(100.0, 50.0, 64.0, 0.0)
    np.testing.assert_allclose(to_crop(np.array([[100.0, 50.0]]), crop, 128), [[63.5, 63.5]])
    left, right = to_crop(np.array([[68.0, 50.0], [132.0, 50.0]]), crop, 128)
    assert right[0] - left[0] == pytest.approx(128.0)


def test_warped_image_agrees_with_point_transform():
    image = np.zeros((200, 300, 3), np.uint8)
    image[120, 170] = 255  # a single bright pixel
    crop = FaceCrop(160.0, 110.0, 60.0, 0.4)
    out = warp_image(image, crop, 120).astype(float)[..., 0]
    ys, xs = np.mgrid[0:120, 0:120]
    centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
    np.testing.assert_allclose(centroid, to_crop(np.array([[170.0, 120.0]]), crop, 120)[0], atol=0.05)


def test_canonical_crop_from_points_and_eye_angle():
    pts = np.zeros((68, 2))
    pts[:, 0] = np.linspace(10, 110, 68)
    pts[:, 1] = np.linspace(20, 70, 68)
    crop = crop_from_points(pts)
    assert (crop.cx, crop.cy) == (60.0, 45.0)
    assert crop.size == pytest.approx(100 * CROP_SCALE)
    level = np.zeros((68, 2))
    level[36:42] = [0, 0]
    level[42:48] = [10, 10]
    assert eye_line_angle(level) == pytest.approx(np.pi / 4)
