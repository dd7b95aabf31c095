"""Training augmentation: the low-light view of a face, equalised as the tracker equalises dark crops."""
from dataclasses import replace

import cv2
import numpy as np

from tracker.network.dark_crops import equalise_if_dark, is_dark
from tracker.train import augment
from tracker.train.config import AugmentConfig

NOTHING = AugmentConfig(colour_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, downscale_prob=0.0, occluder_prob=0.0, noise_prob=0.0, low_light_prob=0.0)


def _lit_face(size=64):
    rng = np.random.default_rng(0)
    image = rng.integers(90, 220, (size, size, 3)).astype(np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 4, (230, 180, 150), -1)
    return image


def test_low_light_dims_a_crop_into_the_configured_range_and_keeps_its_shape():
    cfg = AugmentConfig()
    image = _lit_face()
    for seed in range(20):
        dim = augment.low_light(np.random.default_rng(seed), image, cfg)
        assert dim.shape == image.shape and dim.dtype == np.uint8
        grey = cv2.cvtColor(dim, cv2.COLOR_RGB2GRAY).mean()
        assert cfg.low_light_luma[0] - 3 <= grey <= cfg.low_light_luma[1] + 3, grey


def test_photometric_equalises_what_it_leaves_dark_exactly_as_the_tracker_does(monkeypatch):
    seen = []

    def recording(crop):
        seen.append(is_dark(crop))
        return equalise_if_dark(crop)

    monkeypatch.setattr(augment, "equalise_if_dark", recording)
    image = _lit_face()
    out = augment.photometric(np.random.default_rng(0), image, replace(NOTHING, low_light_prob=1.0))
    assert seen == [True]  # the dimmed crop went through the runtime's equaliser
    assert cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).std() > 0
    bright = augment.photometric(np.random.default_rng(0), image, NOTHING)
    assert seen[-1] is False and np.array_equal(bright, image)  # a lit crop is left as it is


def _block_edges(image: np.ndarray, block: int) -> float:
    """Mean jump across the block grid's columns over the mean jump between other columns."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    jumps = np.abs(np.diff(grey, axis=1)).mean(axis=0)
    on_grid = np.arange(len(jumps)) % block == block - 1
    return float(jumps[on_grid].mean() / jumps[~on_grid].mean())


def test_coding_leaves_jpeg_blocks_at_the_scale_the_face_was_coded():
    image = cv2.GaussianBlur(_lit_face(128), (0, 0), 3)  # smooth, so the blocks are what stands out
    cfg = replace(NOTHING, compression_prob=1.0, compression_quality=(5, 5), compression_scale=(1.0, 1.0))
    coded = augment.photometric(np.random.default_rng(0), image, cfg)
    assert coded.shape == image.shape and coded.dtype == np.uint8
    assert _block_edges(coded, 8) > 1.5 and _block_edges(image, 8) < 1.2  # 8x8 JPEG blocks appear
    assert np.array_equal(augment.photometric(np.random.default_rng(0), image, NOTHING), image)  # off by default
