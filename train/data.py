"""Torch dataset over a crop cache with per-(seed, epoch, index) augmentation, so runs are reproducible."""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from tracker.geometry import apply_affine, warp_image
from tracker.network.dark_crops import equalise_if_dark
from tracker.train.augment import geometric, photometric
from tracker.train.cache import CropCache
from tracker.train.config import AugmentConfig


class LandmarkDataset(Dataset):
    """Yields (uint8 HxWx3 crop, float32 (N, 2) input-pixel labels, index).

    ``labels`` (cache pixels) start as the annotations and are replaced by SA's searched points.
    Without ``augment`` every item is the canonical crop, as at test time.
    """

    def __init__(self, cache: CropCache, input_size: int, augment: AugmentConfig | None, seed: int = 0) -> None:
        self.cache = cache
        self.labels = cache.points.copy()
        self.input_size = input_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.canonical_matrix = cache.canonical.matrix(input_size)

    def __len__(self) -> int:
        return len(self.cache)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self.augment is None:
            crop_t, pts_t = self.canonical_item(index)
            return crop_t, pts_t, index
        rng = np.random.default_rng([self.seed, self.epoch, index])
        crop, pts, _, _ = geometric(
            rng, self.cache.images[index], self.labels[index], self.cache.canonical, self.input_size, self.augment
        )
        crop = photometric(rng, crop, self.augment)
        return torch.from_numpy(np.ascontiguousarray(crop)), torch.from_numpy(pts.astype(np.float32)), index

    def canonical_item(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The un-augmented canonical crop and its current labels in input pixels (SA search input)."""
        crop = equalise_if_dark(warp_image(self.cache.images[index], self.cache.canonical, self.input_size))  # as in training
        pts = apply_affine(self.canonical_matrix, self.labels[index])
        return torch.from_numpy(crop), torch.from_numpy(pts.astype(np.float32))

    def input_to_cache(self, points: np.ndarray) -> np.ndarray:
        """Map canonical-input pixels back to cache pixels (to store searched labels)."""
        return apply_affine(cv2.invertAffineTransform(self.canonical_matrix), points)
