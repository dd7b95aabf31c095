"""Train the learned face check (``tracker.models.FaceCheck``) on a frozen landmark network's heatmaps.

Positives are the faces' crops as the tracker makes them (levelled, jittered, under the training
photometric augmentation: colour, blur, down-scaling, occluders, noise). Negatives are what the
tracker must refuse: crops slid off the face, zoomed into one part of it, centred on the hair, an ear
or the neck, and crops of face-free textures. A second set of the same kinds is made as a dark,
compressed video shows them (low light, then coded), so that a dim, blocky audience face is still a
face and a dim, blocky wall still is not. The heatmaps are computed once; the head then trains on them.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.nn import functional as F

from tracker.datasets.face_free import STRIP_KINDS, strip, texture
from tracker.datasets import FaceSample, load_image_rgb
from tracker.geometry import FaceCrop, levelled_crop, warp_image
from tracker.models import FaceCheck, FaceCheckConfig
from tracker.network.codec import MIN_MEAN_PEAK
from tracker.network.options import GraphOptions
from tracker.network.predictor import LandmarkPredictor
from tracker.train.augment import photometric, random_crop
from tracker.train.config import AugmentConfig

log = logging.getLogger(__name__)

NEGATIVE_KINDS = ("shifted", "zoomed", "beside", "texture")
DIM_VIDEO_SEED_OFFSET = 1000  # the dim-video crops' random stream, apart from the lit crops' (seed, seed + 1)


def _augment() -> AugmentConfig:
    return AugmentConfig(rotation_sigma_deg=20.0, scale_sigma=0.12, translate_sigma=0.06)


def _dim_video_augment() -> AugmentConfig:
    """Every crop dimmed (darker and flatter than the landmark training's low light) and then coded."""
    return replace(
        _augment(), low_light_prob=1.0, low_light_luma=(6.0, 30.0), low_light_contrast=(0.3, 0.8), downscale_prob=0.0,
        compression_prob=1.0,
    )


@dataclass(frozen=True)
class FaceCheckTraining:
    positives_per_face: int = 3
    negatives_per_kind: int = 1  # per face, of each of NEGATIVE_KINDS
    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: AugmentConfig = field(default_factory=_augment)
    # a second crop set (as many crops again) under this augmentation; None: none
    dim_video_augment: AugmentConfig | None = field(default_factory=_dim_video_augment)
    check: FaceCheckConfig = field(default_factory=FaceCheckConfig)


@dataclass
class CropSet:
    """Pooled heatmaps (n, N, h, w) float16, labels (n,) 1 = face, and each crop's kind."""

    maps: torch.Tensor
    labels: torch.Tensor
    kinds: list[str]


def _negative_crop(rng: np.random.Generator, image: np.ndarray, face: FaceSample, kind: str) -> tuple[np.ndarray, FaceCrop]:
    """A crop that holds no whole face, and the picture it is cut from."""
    canonical = levelled_crop(face.points)
    size = canonical.size * float(rng.uniform(0.8, 1.25))
    angle = canonical.angle + float(rng.normal(0, 0.2))
    if kind == "shifted":  # slid at least half a crop off the face, any direction
        direction = rng.uniform(0, 2 * np.pi)
        distance = canonical.size * float(rng.uniform(0.5, 0.9))
        return image, FaceCrop(canonical.cx + distance * np.cos(direction), canonical.cy + distance * np.sin(direction), size, angle)
    if kind == "zoomed":  # one part of the face (an eye, the mouth, a cheek) filling the crop
        point = face.points[int(rng.integers(len(face.points)))]
        return image, FaceCrop(float(point[0]), float(point[1]), canonical.size * float(rng.uniform(0.3, 0.5)), angle)
    if kind == "beside":  # hair, an ear or the neck, framed as a face would be
        for _ in range(len(STRIP_KINDS)):
            region = strip(image, face, STRIP_KINDS[int(rng.integers(len(STRIP_KINDS)))])
            if region is not None:
                side = max(region.shape[:2])
                return region, FaceCrop(region.shape[1] / 2, region.shape[0] / 2, side * float(rng.uniform(0.9, 1.3)), angle)
        return image, FaceCrop(canonical.cx, canonical.cy + canonical.size, size, angle)  # below the chin
    picture = texture(rng)
    side = float(rng.uniform(60, picture.shape[0]))
    return picture, FaceCrop(float(rng.uniform(side / 2, picture.shape[1] - side / 2)), float(rng.uniform(side / 2, picture.shape[0] - side / 2)), side)


def make_crop_set(
    predictor: LandmarkPredictor, faces: Sequence[FaceSample], cfg: FaceCheckTraining, seed: int, batch: int = 64,
    augment: AugmentConfig | None = None,
) -> CropSet:
    """Positive and negative crops of ``faces`` under ``augment`` (default ``cfg.augment``), through
    ``predictor``'s hourglass to pooled heatmaps."""
    augment = augment or cfg.augment
    rng = np.random.default_rng(seed)
    size = predictor.input_size
    crops: list[np.ndarray] = []
    labels: list[int] = []
    kinds: list[str] = []
    maps: list[torch.Tensor] = []

    def flush() -> None:
        if crops:
            heat = predictor.predict_batch(np.stack(crops)).heatmaps
            maps.append(F.max_pool2d(heat.float(), cfg.check.pool).half() if cfg.check.pool > 1 else heat.half())
            crops.clear()

    for index, face in enumerate(faces):
        image = load_image_rgb(face.image_path)
        canonical = levelled_crop(face.points)
        for _ in range(cfg.positives_per_face):
            crop = photometric(rng, warp_image(image, random_crop(rng, canonical, augment), size), augment)
            crops.append(crop)
            labels.append(1)
            kinds.append("face")
        for kind in NEGATIVE_KINDS:
            for _ in range(cfg.negatives_per_kind):
                picture, crop = _negative_crop(rng, image, face, kind)
                crops.append(photometric(rng, warp_image(picture, crop, size), augment))
                labels.append(0)
                kinds.append(kind)
        if len(crops) >= batch:
            flush()
        if (index + 1) % 200 == 0:
            log.info("face-check crops: %d of %d faces", index + 1, len(faces))
    flush()
    return CropSet(torch.cat(maps), torch.tensor(labels, dtype=torch.float32), kinds)


def joined(sets: Sequence[CropSet]) -> CropSet:
    return CropSet(torch.cat([c.maps for c in sets]), torch.cat([c.labels for c in sets]), [k for c in sets for k in c.kinds])


def crop_sets(predictor: LandmarkPredictor, faces: Sequence[FaceSample], cfg: FaceCheckTraining, seed: int) -> dict[str, CropSet]:
    """The crop sets of ``faces``: "lit" under ``cfg.augment``, and "dim video" under ``cfg.dim_video_augment``."""
    sets = {"lit": make_crop_set(predictor, faces, cfg, seed)}
    if cfg.dim_video_augment is not None:
        sets["dim video"] = make_crop_set(predictor, faces, cfg, seed + DIM_VIDEO_SEED_OFFSET, augment=cfg.dim_video_augment)
    return sets


def train_face_check(train: CropSet, cfg: FaceCheckTraining) -> FaceCheck:
    """Binary cross-entropy on the pooled heatmaps, AdamW with a cosine schedule."""
    torch.manual_seed(cfg.seed)
    model = FaceCheck(cfg.check)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * max(1, -(-len(train.labels) // cfg.batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(train.labels), generator=generator)
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            logits = model.from_pooled(train.maps[idx].float())
            loss = F.binary_cross_entropy_with_logits(logits, train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        log.info("face-check epoch %d  loss %.4f", epoch, total / len(order))
    return model.eval()


@torch.inference_mode()
def face_probabilities(model: FaceCheck, crops: CropSet) -> np.ndarray:
    return torch.sigmoid(model.eval().from_pooled(crops.maps.float())).numpy()


def mean_peaks(crops: CropSet) -> np.ndarray:
    """The rule the face check replaces: each crop's mean heatmap peak (max-pooling keeps the peaks)."""
    return crops.maps.float().amax(dim=(2, 3)).mean(dim=1).numpy()


def precision_recall(probabilities: np.ndarray, crops: CropSet, threshold: float) -> dict[str, float]:
    """Precision and recall of "face" at ``threshold``, and the share of each negative kind accepted."""
    labels = crops.labels.numpy() > 0.5
    accepted = probabilities >= threshold
    true = int((accepted & labels).sum())
    row = {
        "threshold": threshold,
        "precision": 100.0 * true / max(1, int(accepted.sum())),
        "recall": 100.0 * true / max(1, int(labels.sum())),
    }
    kinds = np.array(crops.kinds)
    for kind in NEGATIVE_KINDS:
        mask = kinds == kind
        row[f"accepted_{kind}"] = 100.0 * float(accepted[mask].mean()) if mask.any() else float("nan")
    return row


REPORT_THRESHOLDS = (0.3, 0.5, 0.7)


def add_face_check(
    root: str, out: str, weights: str | None = None, cfg: FaceCheckTraining = FaceCheckTraining(), command: str = "",
) -> list[str]:
    """Train a face check on ``root``'s 300-W training faces for ``weights``; score it on the common test
    faces; write the weights with it to ``out``. Returns the report's lines."""
    import time
    from pathlib import Path

    from tracker.datasets import w300
    from tracker.models import save_weights
    from tracker.network.weights_registry import load_model

    started = time.monotonic()
    model = load_model(Path(weights) if weights else None)
    predictor = LandmarkPredictor(model, options=GraphOptions(ghcu=False))  # the heatmaps the tracker sees
    train_faces = w300.load_split(root, "train").faces
    test_faces = w300.load_split(root, "common").faces
    if not train_faces or not test_faces:
        raise FileNotFoundError(f"needs 300-W training and common test faces under {root}")
    train_sets = crop_sets(predictor, train_faces, cfg, cfg.seed)
    test_sets = crop_sets(predictor, test_faces, cfg, cfg.seed + 1)
    train_set = joined(list(train_sets.values()))
    check = train_face_check(train_set, cfg)
    held_out = sum(len(c.labels) for c in test_sets.values())
    lines = [f"crops: {len(train_set.labels)} training ({len(train_faces)} faces), {held_out} held-out ({len(test_faces)} faces); sets: {', '.join(train_sets)}"]
    metrics = {}
    # "held-out" is the lit set (comparable with checks trained without the dim-video set)
    named = [("train", train_set), ("held-out", test_sets["lit"])] + [(f"held-out {k}", c) for k, c in test_sets.items() if k != "lit"]
    scored = [(f"{name} p >=", face_probabilities(check, crops), crops, REPORT_THRESHOLDS) for name, crops in named]
    scored.append(("held-out mean peak >=", mean_peaks(test_sets["lit"]), test_sets["lit"], (MIN_MEAN_PEAK,)))
    for name, scores, crops, thresholds in scored:
        for threshold in thresholds:
            row = precision_recall(scores, crops, threshold)
            metrics[f"{name} {threshold}"] = row
            accepted = ", ".join(f"{k} {row[f'accepted_{k}']:.1f}%" for k in NEGATIVE_KINDS)
            lines.append(f"{name} {threshold}: precision {row['precision']:.2f}%  recall {row['recall']:.2f}%  (non-faces accepted: {accepted})")
    model.face_check = check
    model.meta["face_check"] = {
        "command": command, "data": f"300-W train ({len(train_faces)} faces); held-out: 300-W common ({len(test_faces)} faces)",
        "heatmaps": "float hourglass", "minutes": round((time.monotonic() - started) / 60, 1),
        "metrics": metrics,
    }
    save_weights(out, model)
    lines.append(f"wrote {out} ({(time.monotonic() - started) / 60:.1f} min)")
    return lines
