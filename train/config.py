"""One typed training config, saved with every run; presets ``paper`` and ``compact``."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from tracker.errors import InputError
from tracker.models.ghcu import GHCUConfig
from tracker.models.hourglass import HourglassConfig


CODED_VIDEO_SHARE = 0.3  # share of crops coded as compressed video in presets that learn it
EMA_DECAY = 0.999  # per step: at 126 steps an epoch (2,012 faces, batch 16) the average spans about 8 epochs


@dataclass(frozen=True)
class AugmentConfig:
    """Paper: rotation and scale drawn from Gaussians; plus flips, colour, blur, down-scaling, occluders."""

    rotation_sigma_deg: float = 15.0
    scale_sigma: float = 0.10
    translate_sigma: float = 0.04  # of the crop side: detector-box tolerance
    max_sigmas: float = 2.0  # Gaussian draws are clipped at this many sigmas
    flip_prob: float = 0.5
    colour_prob: float = 0.8
    colour_channel_gain: tuple[float, float] = (0.7, 1.3)  # each channel's gain...
    colour_gain: tuple[float, float] = (0.6, 1.4)  # ...times one for all three
    colour_offset: tuple[float, float] = (-30.0, 30.0)  # grey levels added
    colour_contrast: tuple[float, float] = (0.7, 1.3)  # about the mean
    grayscale_prob: float = 0.05
    blur_prob: float = 0.15
    blur_sigma: tuple[float, float] = (0.5, 2.0)  # Gaussian blur, pixels of a 128-px crop
    downscale_prob: float = 0.15
    min_downscale: float = 0.25
    max_downscale: float = 0.8  # the crop shrunk to this fraction of its side at most, then enlarged back
    occluder_prob: float = 0.3
    occluder_size: tuple[float, float] = (0.15, 0.45)  # sides, fractions of the crop's
    occluder_texture: float = 25.0  # std of the noise on half of the occluders, grey levels
    noise_prob: float = 0.1
    noise_sigma: tuple[float, float] = (3.0, 15.0)  # Gaussian sensor noise, grey levels
    # A dim hall: the crop darkened (gamma, then scaled to a mean grey level in ``low_light_luma``),
    # often out of focus, with the sensor noise of a high gain; the tracker equalises such crops
    # (tracker.network.dark_crops) and training does the same after augmenting.
    low_light_prob: float = 0.15
    low_light_luma: tuple[float, float] = (6.0, 40.0)
    low_light_gamma: tuple[float, float] = (1.0, 2.0)
    low_light_defocus_prob: float = 0.7
    low_light_defocus: tuple[float, float] = (1.0, 4.0)  # Gaussian blur sigma, pixels of a 128-px crop
    low_light_contrast: tuple[float, float] = (0.4, 1.0)  # contrast kept (stage light scattered in the hall)
    low_light_noise: tuple[float, float] = (0.5, 3.0)  # Gaussian noise sigma, grey levels (video coding smooths most)
    # Video coding: the crop JPEG-coded at a low quality, at a fraction of its side (a small face's
    # macroblocks), after any low light: the blocks a dark, heavily compressed frame shows once equalised.
    compression_prob: float = 0.0
    compression_quality: tuple[int, int] = (5, 40)  # JPEG quality, 0-100
    compression_scale: tuple[float, float] = (0.25, 1.0)  # side coded, fraction of the crop's


@dataclass(frozen=True)
class SearchConfig:
    """SA latent-ground-truth search (paper settings at the 256x256 heatmap scale)."""

    window: int = 17
    scale: int = 256  # resolution at which the window and the prior's distances are defined
    s1: float = 1.0
    s2: float = math.sqrt(0.1)  # s2^2 / s1^2 = 0.1
    # The template is the training target's Gaussian (``TrainConfig.heatmap_sigma`` heatmap pixels, so
    # its width follows the heatmap size) on a square of this many of its sigmas: the paper's 19 px at
    # sigma 4 (sigma 1 at 64x64, seen at 256x256).
    template_sigmas: float = 19 / 4


@dataclass(frozen=True)
class DistillConfig:
    """Training from a stronger model: its heatmaps of every augmented crop are a second target.

    The loss is ``label_weight`` x loss(labels) + ``weight`` x loss(teacher heatmaps), in the
    hourglass stages (baseline and SA); the GHCU learns from labels only.
    """

    teacher: str = ""  # weights file of the teacher; empty: no distillation
    weight: float = 1.0
    label_weight: float = 1.0


SCHEDULES = ("exponential", "cosine")


@dataclass(frozen=True)
class StageConfig:
    """A stage's length and learning rate: from ``lr`` to ``lr_final`` over ``epochs``, either
    exponentially or along a half cosine (``schedule``; see ``tracker.train.runner.stage_lr``)."""

    epochs: int
    lr: float
    lr_final: float
    batch_size: int = 10
    schedule: str = "exponential"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")


@dataclass(frozen=True)
class TrainConfig:
    preset: str
    model: HourglassConfig
    heatmap_sigma: float = 1.0  # heatmap pixels
    loss: str = "mse"  # heatmap loss: mse (the paper's) | awing (tracker.train.losses)
    baseline: StageConfig = StageConfig(epochs=120, lr=2.5e-4, lr_final=2.5e-6)
    sa: StageConfig = StageConfig(epochs=10, lr=2.5e-5, lr_final=2.5e-6)
    ghcu: StageConfig = StageConfig(epochs=40, lr=1e-3, lr_final=1e-5, batch_size=32)
    ghcu_model: GHCUConfig = GHCUConfig()
    search: SearchConfig = SearchConfig()
    augment: AugmentConfig = AugmentConfig()
    distill: DistillConfig = DistillConfig()
    seed: int = 0
    num_workers: int = 2
    amp: bool = True  # bf16 autocast where the device computes bf16 natively (tracker.train.precision)
    # Weight of a coordinate loss beside the heatmap loss: L1, in heatmap pixels, between the local
    # soft-argmax of each predicted heatmap and of its target, over the target's peak window
    # (``coord_radius`` pixels around it; tracker.train.losses.local_soft_argmax). 0: heatmaps only.
    coord_loss_weight: float = 0.0
    coord_radius: int = 2
    # Exponential moving average of the hourglass weights (0: off). Validation, the SA search, the GHCU
    # stage and the exported weights use the average; training steps the raw weights.
    ema_decay: float = 0.0
    cache_margin: float = 1.6  # cached crop side / canonical crop side, room for augmentation
    # Mixed training: 0 makes an epoch every training face once (datasets in proportion to their size);
    # a share makes it every 300-W face once plus other datasets' faces, 300-W being this share of it
    # (tracker.train.sampling). Without another dataset it changes nothing.
    w300_share: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _build(cls: type, data: dict[str, Any]) -> Any:
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        ftype = f.type if not isinstance(f.type, str) else _TYPES.get(f.type.split(" ")[0])
        if ftype is not None and is_dataclass(ftype) and isinstance(value, dict):
            value = _build(ftype, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


_TYPES: dict[str, type] = {
    "HourglassConfig": HourglassConfig,
    "StageConfig": StageConfig,
    "GHCUConfig": GHCUConfig,
    "SearchConfig": SearchConfig,
    "AugmentConfig": AugmentConfig,
    "DistillConfig": DistillConfig,
}


def _paper() -> TrainConfig:
    model = HourglassConfig(num_stacks=4, features=256, depth=4, input_size=256)
    return TrainConfig(preset="paper", model=model, heatmap_sigma=1.0, ghcu_model=GHCUConfig(heatmap_size=64))


def _compact() -> TrainConfig:
    """Sized for real-time CPU tracking: 2 stacks x 96 features at 128x128 (32x32 heatmaps)."""
    model = HourglassConfig(num_stacks=2, features=96, depth=3, input_size=128)
    return TrainConfig(
        preset="compact",
        model=model,
        heatmap_sigma=1.0,
        baseline=StageConfig(epochs=60, lr=5e-4, lr_final=5e-6, batch_size=16),
        sa=StageConfig(epochs=6, lr=5e-5, lr_final=1e-5, batch_size=16),
        ghcu=StageConfig(epochs=30, lr=1e-3, lr_final=1e-5, batch_size=32),
        ghcu_model=GHCUConfig(heatmap_size=32, channels=(64, 64, 32, 32, 16)),
    )


def _compact64() -> TrainConfig:
    """2 stacks x 128 features at 128x128, 64x64 heatmaps from an upsampling head, Adaptive Wing loss:
    ``compact`` wider and with heatmaps twice as fine."""
    model = HourglassConfig(num_stacks=2, features=128, depth=3, input_size=128, heatmap_stride=2, head_features=32)
    return TrainConfig(
        preset="compact64",
        model=model,
        heatmap_sigma=1.0,
        loss="awing",
        baseline=StageConfig(epochs=50, lr=5e-4, lr_final=5e-6, batch_size=16),
        sa=StageConfig(epochs=4, lr=5e-5, lr_final=1e-5, batch_size=16),
        ghcu=StageConfig(epochs=10, lr=1e-3, lr_final=1e-5, batch_size=32),
        ghcu_model=GHCUConfig(heatmap_size=64, channels=(64, 64, 32, 32, 16, 16)),
    )


def _compact_s2() -> TrainConfig:
    """``compact`` with 64x64 heatmaps from an upsampling head, fine-tuned from trained ``compact``
    weights (``--init-weights``): the hourglass keeps what it learnt, the head learns the finer maps."""
    model = HourglassConfig(num_stacks=2, features=96, depth=3, input_size=128, heatmap_stride=2, head_features=32)
    return TrainConfig(
        preset="compact-s2",
        model=model,
        heatmap_sigma=1.0,
        loss="awing",  # with MSE the new head collapses to all-zero maps (3 of 4,096 pixels are foreground)
        baseline=StageConfig(epochs=14, lr=2e-4, lr_final=2e-6, batch_size=16),
        sa=StageConfig(epochs=2, lr=2e-5, lr_final=1e-5, batch_size=16),
        ghcu=StageConfig(epochs=5, lr=1e-3, lr_final=1e-5, batch_size=32),
        ghcu_model=GHCUConfig(heatmap_size=64, channels=(64, 64, 32, 32, 16, 16)),
    )


def _compact_tune() -> TrainConfig:
    """``compact``, fine-tuned from trained ``compact`` weights (``--init-weights``) at a tenth of its
    learning rate: new augmentation (e.g. low light) is learnt while the network stays close to where
    it was."""
    base = _compact()
    return replace(
        base,
        preset="compact-tune",
        baseline=StageConfig(epochs=12, lr=5e-5, lr_final=5e-6, batch_size=16),
        sa=StageConfig(epochs=10, lr=5e-5, lr_final=5e-6, batch_size=16),
        ghcu=StageConfig(epochs=10, lr=2e-4, lr_final=1e-5, batch_size=32),
    )


def _compact_long() -> TrainConfig:
    """``compact`` trained from scratch for as long as it needs: a long decay, an EMA of the weights."""
    base = _compact()
    return replace(
        base,
        preset="compact-long",
        baseline=StageConfig(epochs=300, lr=5e-4, lr_final=5e-6, batch_size=16),
        sa=StageConfig(epochs=10, lr=5e-5, lr_final=5e-6, batch_size=16),
        ghcu=StageConfig(epochs=30, lr=1e-3, lr_final=1e-5, batch_size=32),
        ema_decay=EMA_DECAY,
    )


def _compact_long_coord() -> TrainConfig:
    """``compact-long`` with the soft-argmax coordinate loss beside the heatmaps' (sub-pixel pilot)."""
    return replace(_compact_long(), preset="compact-long-coord", coord_loss_weight=1.0)


def _compact_long_tune() -> TrainConfig:
    """``compact-long-coord``'s network fine-tuned from its trained weights (``--init-weights``), as
    ``compact-tune`` fine-tunes ``compact``: a tenth of the learning rate, and crops coded as a compressed
    video codes a small, dim face (``AugmentConfig.compression_prob``)."""
    base = _compact_long_coord()
    tune = _compact_tune()
    return replace(
        base, preset="compact-long-tune", baseline=tune.baseline, sa=tune.sa, ghcu=tune.ghcu,
        augment=replace(base.augment, compression_prob=CODED_VIDEO_SHARE),
    )


PILOT_EPOCHS = 15  # equal budgets for the warm-started pilots (docs/accuracy.md)
PILOT_LR = 2e-4


def _pilot(name: str, **model_changes: Any) -> TrainConfig:
    """The shipped network (``compact-long-coord``) warm-started from its weights (``--init-weights``)
    for ``PILOT_EPOCHS`` epochs on a cosine schedule to zero, with ``model_changes`` to its hourglass:
    a finer input or one more stack, each against the unchanged network at the same budget."""
    base = _compact_long_coord()
    model = replace(base.model, **model_changes)
    return replace(
        base, preset=name, model=model,
        baseline=StageConfig(epochs=PILOT_EPOCHS, lr=PILOT_LR, lr_final=0.0, batch_size=16, schedule="cosine"),
        ghcu_model=replace(base.ghcu_model, heatmap_size=model.heatmap_size),
    )


MIXED_W300_SHARE = 0.5  # 300-W's share of a mixed epoch in the presets that balance the datasets


def _pilot_mixed_half() -> TrainConfig:
    """``pilot-128`` on 300-W train and the AFLW_MERLRAV training faces (``--merlrav-root``), each
    epoch every 300-W face once and as many AFLW_MERLRAV faces (these cycle over the epochs)."""
    return replace(_pilot("pilot-mixed-half"), w300_share=MIXED_W300_SHARE)


ANNEAL_SA = StageConfig(epochs=10, lr=2e-5, lr_final=0.0, batch_size=16, schedule="cosine")
ANNEAL_GHCU = StageConfig(epochs=20, lr=1e-3, lr_final=0.0, batch_size=32, schedule="cosine")


def _compact_anneal() -> TrainConfig:
    """``pilot-128`` with SA and the GHCU after it: the shipped network warm-started from its weights
    (``--init-weights``), annealed to zero on a cosine, then 10 SA and 20 GHCU epochs, each on a cosine
    to zero."""
    return replace(_pilot("compact-anneal"), sa=ANNEAL_SA, ghcu=ANNEAL_GHCU)


def _compact_anneal_mixed() -> TrainConfig:
    """``compact-anneal`` on 300-W train and the AFLW_MERLRAV training faces (``--merlrav-root``), half
    of each epoch 300-W's (``pilot-mixed-half``'s sampling)."""
    return replace(_compact_anneal(), preset="compact-anneal-mixed", w300_share=MIXED_W300_SHARE)


MIXED_LONG_EPOCHS = 150  # balanced epochs of 4,024 faces: about 80 s each on 2 cores, 3.3 hours in all


def _compact_mixed_long() -> TrainConfig:
    """``compact-anneal-mixed`` over a long run: the network warm-started from trained weights
    (``--init-weights``) on 300-W train and the AFLW_MERLRAV training faces (``--merlrav-root``) in
    balanced epochs, on the pilots' cosine schedule for ``MIXED_LONG_EPOCHS``, then SA on the mixed set
    and the GHCU."""
    base = _compact_anneal_mixed()
    return replace(base, preset="compact-mixed-long", baseline=replace(base.baseline, epochs=MIXED_LONG_EPOCHS))


def _tiny() -> TrainConfig:
    """For tests: a very small network and a few short epochs."""
    model = HourglassConfig(num_stacks=1, features=16, depth=1, input_size=32)
    return TrainConfig(
        preset="tiny",
        model=model,
        baseline=StageConfig(epochs=2, lr=1e-3, lr_final=1e-3, batch_size=4),
        sa=StageConfig(epochs=2, lr=1e-3, lr_final=1e-3, batch_size=4),
        ghcu=StageConfig(epochs=2, lr=1e-3, lr_final=1e-3, batch_size=4),
        ghcu_model=GHCUConfig(heatmap_size=8, channels=(8, 8), hidden=32),
        num_workers=0,
    )


PRESETS = {
    "paper": _paper, "compact": _compact, "compact64": _compact64, "compact-s2": _compact_s2, "compact-tune": _compact_tune,
    "compact-long": _compact_long, "compact-long-coord": _compact_long_coord, "compact-long-tune": _compact_long_tune,
    "pilot-128": lambda: _pilot("pilot-128"), "pilot-160": lambda: _pilot("pilot-160", input_size=160),
    "pilot-3stack": lambda: _pilot("pilot-3stack", num_stacks=3), "compact-mixed-long": _compact_mixed_long,
    "pilot-mixed-half": _pilot_mixed_half, "compact-anneal": _compact_anneal,
    "compact-anneal-mixed": _compact_anneal_mixed,
    "tiny": _tiny,
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name](), **overrides)


__all__ = ["AugmentConfig", "DistillConfig", "SearchConfig", "StageConfig", "TrainConfig", "PRESETS", "preset"]
