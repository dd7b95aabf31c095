"""A weights file that carries its own architecture config: ``--weights FILE`` just works."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tracker.io.atomic import atomic_write
from tracker.errors import WeightsError
from tracker.models.face_check import FaceCheck, FaceCheckConfig
from tracker.models.ghcu import GHCU, GHCUConfig
from tracker.models.hourglass import HourglassConfig, StackedHourglass

FORMAT = "sa-tracker-weights/1"


@dataclass
class LandmarkModel:
    """The runtime pair: the hourglass, the optional GHCU, and free-form provenance metadata.

    Files written before int8 was dropped may hold ``int8_ranges``; they load, and the ranges are ignored."""

    hourglass: StackedHourglass
    ghcu: GHCU | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    face_check: FaceCheck | None = None  # p(face) from the heatmaps (``tracker train face-check``)
    # (N, 2) mean signed error (x, y) of each point on the training faces, in crop sides, which the
    # predictor subtracts (``tracker point-offsets``; docs/accuracy.md, "The horizontal bias").
    point_offsets: np.ndarray | None = None

    @property
    def config(self) -> HourglassConfig:
        return self.hourglass.config


def _to_state(module: torch.nn.Module, half: bool) -> dict[str, torch.Tensor]:
    state = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu()
        state[k] = v.half() if half and v.is_floating_point() else v
    return state


def save_weights(path: str | os.PathLike[str], model: LandmarkModel, half: bool = True) -> None:
    """Write hourglass (+ GHCU) weights and configs; ``half`` stores floats as fp16 (small files)."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "hourglass_config": asdict(model.hourglass.config),
        "hourglass": _to_state(model.hourglass, half),
        "meta": dict(model.meta),
    }
    if model.ghcu is not None:
        cfg = asdict(model.ghcu.config)
        cfg["channels"] = list(cfg["channels"])
        payload["ghcu_config"] = cfg
        payload["ghcu"] = _to_state(model.ghcu, half)
    if model.face_check is not None:
        payload["face_check_config"] = asdict(model.face_check.config)
        payload["face_check"] = _to_state(model.face_check, half)
    if model.point_offsets is not None:
        payload["point_offsets"] = np.asarray(model.point_offsets, dtype=np.float64).tolist()
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)


def load_weights(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> LandmarkModel:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise WeightsError(f"{path}: not a weights file ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an sa-tracker weights file (expected format {FORMAT})")
    hourglass = StackedHourglass(HourglassConfig(**payload["hourglass_config"]))
    hourglass.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["hourglass"].items()})
    ghcu = None
    if "ghcu" in payload:
        cfg = dict(payload["ghcu_config"])
        cfg["channels"] = tuple(cfg["channels"])
        ghcu = GHCU(GHCUConfig(**cfg))
        ghcu.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["ghcu"].items()})
    face_check = None
    if "face_check" in payload:
        face_check = FaceCheck(FaceCheckConfig(**payload["face_check_config"]))
        face_check.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["face_check"].items()})
        face_check.eval()
    offsets = payload.get("point_offsets")
    if offsets is not None:
        offsets = np.asarray(offsets, dtype=np.float64)
        if offsets.shape != (hourglass.config.num_points, 2) or not np.isfinite(offsets).all():
            raise WeightsError(f"{path}: point offsets of shape {offsets.shape}, not ({hourglass.config.num_points}, 2) finite values")
    return LandmarkModel(
        hourglass.eval(), ghcu.eval() if ghcu is not None else None, dict(payload.get("meta", {})),
        face_check, offsets,
    )
