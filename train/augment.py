"""Training augmentation: Gaussian rotation/scale/shift, flips, colour, blur, down-scaling, occluders, noise, low
light, video coding."""
from __future__ import annotations

import cv2
import numpy as np

from tracker.geometry import FaceCrop, apply_affine
from tracker.markup import flip_points
from tracker.network.dark_crops import equalise_if_dark
from tracker.train.config import AugmentConfig

REFERENCE_CROP = 128  # crop side at which the blur widths of AugmentConfig are given
MIN_DOWNSCALED_SIDE = 4  # pixels: a down-scaled crop keeps at least this side


def _clipped_normal(rng: np.random.Generator, sigma: float, max_sigmas: float) -> float:
    return float(np.clip(rng.normal(0.0, sigma), -max_sigmas * sigma, max_sigmas * sigma))


def random_crop(rng: np.random.Generator, canonical: FaceCrop, cfg: AugmentConfig) -> FaceCrop:
    """Jitter a canonical crop's centre, scale and angle."""
    shift = canonical.size * cfg.translate_sigma
    return FaceCrop(
        canonical.cx + _clipped_normal(rng, shift, cfg.max_sigmas),
        canonical.cy + _clipped_normal(rng, shift, cfg.max_sigmas),
        canonical.size * float(np.exp(_clipped_normal(rng, cfg.scale_sigma, cfg.max_sigmas))),
        np.deg2rad(_clipped_normal(rng, cfg.rotation_sigma_deg, cfg.max_sigmas)),
    )


def geometric(
    rng: np.random.Generator, image: np.ndarray, points: np.ndarray, canonical: FaceCrop, out_size: int, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Warp a cached crop to the network input with a random similarity (and maybe a flip).

    Returns the image, points, the 2x3 cache->input matrix and whether it was flipped.
    """
    crop = random_crop(rng, canonical, cfg)
    matrix = crop.matrix(out_size)
    out = cv2.warpAffine(image, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    pts = apply_affine(matrix, points)
    flipped = bool(rng.random() < cfg.flip_prob)
    if flipped:
        out = np.ascontiguousarray(out[:, ::-1])
        pts = flip_points(pts, out_size)
    return out, pts, matrix, flipped


def photometric(rng: np.random.Generator, image: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """Colour, grayscale, blur, down-scaling, occluders, noise, low light and coding on an (S, S, 3) uint8 crop.

    A crop left dark is then contrast-equalised, as the tracker equalises dark crops before the network.
    """
    img = image.astype(np.float32)
    size = image.shape[0]
    if rng.random() < cfg.colour_prob:
        gain = rng.uniform(*cfg.colour_channel_gain, size=3).astype(np.float32) * rng.uniform(*cfg.colour_gain)
        img = img * gain + rng.uniform(*cfg.colour_offset)
        mean = img.mean()
        img = (img - mean) * rng.uniform(*cfg.colour_contrast) + mean
    if rng.random() < cfg.grayscale_prob:
        img[:] = img.mean(axis=2, keepdims=True)
    if rng.random() < cfg.occluder_prob:
        img = _occlude(rng, img, size, cfg)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < cfg.downscale_prob:
        small = max(MIN_DOWNSCALED_SIDE, int(size * rng.uniform(cfg.min_downscale, cfg.max_downscale)))
        img = cv2.resize(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < cfg.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*cfg.blur_sigma) * size / REFERENCE_CROP)
    if rng.random() < cfg.noise_prob:
        noisy = img.astype(np.float32) + rng.normal(0, rng.uniform(*cfg.noise_sigma), img.shape).astype(np.float32)
        img = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < cfg.low_light_prob:
        img = low_light(rng, img, cfg)
    if rng.random() < cfg.compression_prob:
        img = compressed(rng, img, cfg)
    return equalise_if_dark(img)


def low_light(rng: np.random.Generator, image: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """``image`` as a camera sees it in a dim hall: darker (gamma and gain), maybe defocused, noisier."""
    img = (image.astype(np.float32) / 255.0) ** rng.uniform(*cfg.low_light_gamma)
    mean = float(img.mean())
    img = mean + (img - mean) * rng.uniform(*cfg.low_light_contrast)
    img *= rng.uniform(*cfg.low_light_luma) / max(mean * 255.0, 1.0) * 255.0
    if rng.random() < cfg.low_light_defocus_prob:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*cfg.low_light_defocus) * image.shape[0] / REFERENCE_CROP)
    img += rng.normal(0, rng.uniform(*cfg.low_light_noise), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def compressed(rng: np.random.Generator, image: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """``image`` JPEG-coded at a low quality, at a fraction of its side and enlarged back: coding blocks
    as a small face in a compressed video frame has them."""
    size = image.shape[0]
    side = max(MIN_DOWNSCALED_SIDE, int(size * rng.uniform(*cfg.compression_scale)))
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA) if side < size else image
    quality = int(rng.integers(cfg.compression_quality[0], cfg.compression_quality[1] + 1))
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return image
    coded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED).reshape(small.shape)
    return cv2.resize(coded, (size, size), interpolation=cv2.INTER_LINEAR) if side < size else coded


def _occlude(rng: np.random.Generator, img: np.ndarray, size: int, cfg: AugmentConfig) -> np.ndarray:
    """Paste a random solid or textured rectangle / ellipse over part of the face."""
    w, h = (rng.uniform(*cfg.occluder_size, size=2) * size).astype(int)
    x, y = rng.integers(0, size - w), rng.integers(0, size - h)
    mask = np.zeros((size, size), np.uint8)
    if rng.random() < 0.5:
        mask[y : y + h, x : x + w] = 1
    else:
        cv2.ellipse(mask, (int(x + w / 2), int(y + h / 2)), (int(w / 2), int(h / 2)), rng.uniform(0, 180), 0, 360, 1, -1)
    fill = rng.uniform(0, 255, size=3).astype(np.float32)
    if rng.random() < 0.5:
        fill = fill + rng.normal(0, cfg.occluder_texture, (size, size, 3)).astype(np.float32)
    sel = mask.astype(bool)
    img[sel] = (np.broadcast_to(fill, img.shape) if fill.ndim == 1 else fill)[sel]
    return img
