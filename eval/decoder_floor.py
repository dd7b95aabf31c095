"""The decoder's own floor: each ground truth encoded as the training heatmap, decoded as the predictor
decodes, and scored. Whatever error is left is the heatmap grid's and the decoder's, not the network's."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tracker.datasets import FaceSample, protocol_crop
from tracker.geometry import from_crop, to_crop
from tracker.network.codec import MODULATION_SIGMA, decode, heatmap_to_input, input_to_heatmap, render_gaussians

TRAINING_SIGMA = 1.0  # heatmap pixels: the Gaussian every training preset renders (TrainConfig.heatmap_sigma)


DECODERS = ("dark", "taylor", "argmax")  # as the predictor decodes; without the modulation; the integer peak only


def decoded_ground_truth(
    faces: Sequence[FaceSample], input_size: int, heatmap_stride: int, decoder: str = "dark", sigma: float = TRAINING_SIGMA,
) -> np.ndarray:
    """(F, N, 2) image points: each face's annotation in its protocol crop at ``input_size``, rendered as
    the training target (``sigma``) on the ``input_size / heatmap_stride`` grid, then decoded by ``decoder``."""
    crops = [protocol_crop(f) for f in faces]
    points = torch.as_tensor(np.stack([to_crop(f.points, c, input_size) for f, c in zip(faces, crops)]), dtype=torch.float64)
    heatmaps = render_gaussians(input_to_heatmap(points, heatmap_stride), input_size // heatmap_stride, sigma)
    if decoder == "argmax":
        flat = heatmaps.flatten(2).argmax(-1)
        size = heatmaps.shape[-1]
        decoded = torch.stack([flat % size, flat // size], dim=-1).to(heatmaps.dtype)
    else:
        decoded, _ = decode(heatmaps, MODULATION_SIGMA if decoder == "dark" else None)
    back = heatmap_to_input(decoded, heatmap_stride).numpy()
    return np.stack([from_crop(p, c, input_size) for p, c in zip(back, crops)])
