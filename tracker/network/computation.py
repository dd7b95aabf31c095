"""The per-crop computation, defined once: uint8 crops in, landmarks out.

Normalisation, the hourglass, the optional flip test, DARK decoding, the face score, the GHCU and
the point offsets, as one module. ONNX Runtime runs its exported graph (``tracker.network.onnx_export``,
the CPU runtime); ``LandmarkPredictor`` runs the module itself on PyTorch (GPUs, training's checks).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from tracker.markup import flip_permutation
from tracker.models import LandmarkModel
from tracker.models.hourglass import FirstStacks
from tracker.network.codec import MODULATION_SIGMA, decode, heatmap_to_input, heatmap_to_unit, normalise, unit_to_heatmap
from tracker.network.options import GraphOptions

OUTPUT_NAMES = ("points", "confidence", "face_score", "heatmaps")


class LandmarkGraph(nn.Module):
    """(B, S, S, 3) uint8 RGB crops -> points (B, N, 2) in crop-input pixels, confidence (B, N), face
    score (B,), heatmaps (B, N, H, W).

    The face score is the face check's p(face), or the mean heatmap peak for weights without one.
    ``options`` picks the GHCU, the flip test and the stacks run. The module holds copies of
    ``model``'s networks in eval mode, so the caller's model is left as it was (training goes on).
    """

    def __init__(self, model: LandmarkModel, options: GraphOptions = GraphOptions()) -> None:
        super().__init__()
        config = model.config
        network = copy.deepcopy(model.hourglass).eval()
        self.hourglass = FirstStacks(network, options.num_stacks) if options.num_stacks else network
        self.ghcu = copy.deepcopy(model.ghcu).eval() if options.ghcu and model.ghcu is not None else None
        self.face_check = copy.deepcopy(model.face_check).eval() if model.face_check is not None else None
        self.flip_test = options.flip_test
        self.modulation_sigma = MODULATION_SIGMA if options.dark_decoding else None
        self.heatmap_size = config.heatmap_size
        self.heatmap_stride = config.heatmap_stride
        offsets = model.point_offsets if model.point_offsets is not None else torch.zeros(config.num_points, 2)
        self.register_buffer("point_offsets", torch.as_tensor(offsets, dtype=torch.float32) * config.input_size)
        self.register_buffer("flip_index", torch.as_tensor(flip_permutation(config.num_points)))

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = normalise(crops).contiguous(memory_format=torch.channels_last)
        heatmaps = self.hourglass(x)[-1].float()
        if self.flip_test:  # heatmap pixel j mirrors to W-1-j exactly, since the stride divides the input
            mirrored = self.hourglass(torch.flip(x, dims=[3]))[-1].float()
            heatmaps = (heatmaps + torch.flip(mirrored, dims=[3])[:, self.flip_index]) / 2
        points, confidence = decode(heatmaps, self.modulation_sigma)
        face_score = self.face_check.probability(heatmaps) if self.face_check is not None else confidence.mean(dim=1)
        if self.ghcu is not None:
            points = unit_to_heatmap(self.ghcu(heatmaps, heatmap_to_unit(points, self.heatmap_size)), self.heatmap_size)
        points = heatmap_to_input(points, self.heatmap_stride) - self.point_offsets
        return points, confidence, face_score, heatmaps
