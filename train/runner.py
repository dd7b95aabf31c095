"""The three stages, each resumable at any epoch boundary: baseline HG, SA alternation, GHCU."""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.distributed import DistributedSampler

from tracker.io.atomic import atomic_write
from tracker.errors import InputError
from tracker.metrics import labelled_box, nme
from tracker.datasets import W300, FaceSample, dataset_of
from tracker.geometry import FaceCrop, apply_affine, from_crop, to_crop, warp_image
from tracker.network.codec import (
    MODULATION_SIGMA, decode, heatmap_to_input, heatmap_to_unit, input_to_heatmap, render_gaussians, to_network_input,
)
from tracker.models import GHCU, LandmarkModel, StackedHourglass, load_weights, save_weights
from tracker.network.options import GraphOptions
from tracker.network.predictor import LandmarkPredictor
from tracker.train.cache import CropCache, build_cache
from tracker.train.config import StageConfig, TrainConfig
from tracker.train.data import LandmarkDataset
from tracker.train.defaults import STAGES
from tracker.train.pack import PackedSplit, PackError, read_pack
from tracker.train.losses import coordinate_loss, heatmap_loss, labelled_points
from tracker.train.precision import bf16_native
from tracker.train.distributed import DistInfo, all_reduce_sum, barrier, max_param_divergence, sync_buffers
from tracker.train.plots import plot_history, plot_label_changes
from tracker.train.point_offsets import measure_on_crops
from tracker.train.sampling import MixedEpochSampler
from tracker.train.semantic_alignment import search_latent_points

log = logging.getLogger(__name__)

FIGURE_FACES = 4
SEARCH_BATCH = 32
RECENT_EPOCHS = 3  # epochs whose median length predicts the next one's, for the time budget
FIT_CHECK_FACES = 224  # training faces scored each epoch (as many as LFPW test has)


def warmed_up_ema(decay: float):
    """An exponential moving average whose decay grows as min(``decay``, (1 + n) / (10 + n)) with the
    number n of updates so far: early on the average follows the weights instead of keeping the random
    start for thousands of steps."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor | int) -> None:
        if not averaged[0].is_floating_point():  # counters (BatchNorm's batches seen): the latest value
            torch._foreach_copy_(averaged, current)
            return
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(averaged, current, weight)

    return update


def fit_record(fit: dict[str, float]) -> dict[str, float | None]:
    """The log's training-face NMEs: ``train_nme_ip`` for 300-W (inter-pupil, as ever), ``train_nme_<dataset>``
    for each other dataset (its own normaliser, ``Trainer._nme``)."""
    record: dict[str, float | None] = {"train_nme_ip": fit.get(W300)}
    record.update({f"train_nme_{name}": value for name, value in fit.items() if name != W300})
    return record


def epoch_seed(seed: int, stage_index: int, epoch: int) -> int:
    """A distinct torch seed for every (run seed, stage, epoch), however many epochs a stage has."""
    return int(np.random.SeedSequence([seed, stage_index, epoch]).generate_state(1)[0])


def stage_lr(stage: StageConfig, epoch: int) -> float:
    """The learning rate of ``epoch``: exponential decay from ``lr`` to ``lr_final`` over the stage's
    epochs, or a half cosine from ``lr`` that would reach ``lr_final`` one epoch after the last (so no
    epoch is spent at a zero rate)."""
    if stage.schedule == "cosine":
        return stage.lr_final + (stage.lr - stage.lr_final) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(stage.epochs, 1)))
    if stage.epochs <= 1:
        return stage.lr
    return stage.lr * (stage.lr_final / stage.lr) ** (epoch / (stage.epochs - 1))


@dataclass
class RunState:
    """Everything a checkpoint holds besides module weights."""

    stage: str = STAGES[0]
    epoch: int = 0  # epochs completed in ``stage``
    history: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, float] = field(default_factory=dict)


def render_size(cfg: TrainConfig) -> int:
    """Side of the augmented training crops: the larger of the model's and the teacher's input sizes,
    so a teacher that reads 256 px crops sees full detail while the student gets its own size."""
    if not cfg.distill.teacher:
        return cfg.model.input_size
    return max(cfg.model.input_size, load_weights(cfg.distill.teacher).config.input_size)


def faces_to_splits(
    cfg: TrainConfig, train_faces: list[FaceSample], val_faces: list[FaceSample], cache_dir: Path | None = None,
    dist_info: DistInfo = DistInfo(),
) -> tuple[PackedSplit, PackedSplit | None]:
    """Crop caches of the training faces (with the augmentation margin) and the validation faces
    (canonical crops); rank 0 builds and saves them, the other ranks then read them."""
    if not dist_info.is_main:
        barrier(dist_info)
    train_cache = build_cache(train_faces, int(round(render_size(cfg) * cfg.cache_margin)), cfg.cache_margin, cache_dir)
    val_cache = build_cache(val_faces, cfg.model.input_size, 1.0, cache_dir) if val_faces else None
    if dist_info.is_main:
        barrier(dist_info)

    def split(cache: CropCache, faces: list[FaceSample]) -> PackedSplit:
        boxes = np.array([f.box for f in faces], dtype=np.float64) if faces and faces[0].box else None
        visible = np.stack([f.visible for f in faces]) if faces and faces[0].box and faces[0].visible is not None else None
        return PackedSplit(cache, np.stack([f.points for f in faces]), boxes, visible)

    return split(train_cache, train_faces), split(val_cache, val_faces) if val_cache is not None else None


def pack_to_splits(cfg: TrainConfig, path: Path) -> tuple[PackedSplit, PackedSplit | None]:
    """The training and validation splits of a pack (``tracker.train.pack``) at this config's sizes."""
    splits = read_pack(path)
    train = splits["train"]
    if abs(train.cache.margin - cfg.cache_margin) > 1e-6:
        raise PackError(f"{path}: packed with margin {train.cache.margin}, the config needs {cfg.cache_margin}")
    val = splits.get("val")
    return (train.resized(int(round(render_size(cfg) * cfg.cache_margin))),
            val.resized(cfg.model.input_size) if val is not None else None)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        train: PackedSplit,
        val: PackedSplit | None,
        run_dir: Path,
        device: torch.device,
        dist_info: DistInfo = DistInfo(),
        deadline: float | None = None,
    ) -> None:
        """``deadline`` (a ``time.monotonic()`` value): stop, resumably, before an epoch that would end after it."""
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.device = device
        self.dist = dist_info
        self.deadline = deadline
        self.amp = cfg.amp and bf16_native(device)
        self.memory_format = torch.channels_last  # faster convolutions on CUDA and on the CPU (docs/accuracy.md)
        torch.manual_seed(cfg.seed)
        self.hourglass = StackedHourglass(cfg.model).to(device, memory_format=self.memory_format)
        self.ema = self._new_ema() if cfg.ema_decay > 0 else None
        self.ghcu = GHCU(cfg.ghcu_model).to(device)
        if cfg.ghcu_model.heatmap_size != cfg.model.heatmap_size:
            raise ValueError("ghcu_model.heatmap_size must equal the hourglass heatmap size")
        self.train_cache = train.cache
        self.val = val if val is not None and len(val.cache) else None
        self.teacher = self._load_teacher(cfg.distill.teacher) if cfg.distill.teacher else None
        self.render_size = render_size(cfg)
        self.dataset = LandmarkDataset(self.train_cache, self.render_size, cfg.augment, cfg.seed)
        self.fit = self._fit_check_faces(train, cfg.model.input_size)  # per dataset
        self.state = RunState()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(cfg.to_json())

    def _new_ema(self) -> AveragedModel:
        return AveragedModel(self.hourglass, multi_avg_fn=warmed_up_ema(self.cfg.ema_decay), use_buffers=True)

    @property
    def network(self) -> StackedHourglass:
        """The hourglass that is validated, searched with, read by the GHCU and exported: the EMA of the
        weights when the config keeps one, else the trained weights themselves."""
        return self.ema.module if self.ema is not None else self.hourglass

    def _update_ema(self) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.hourglass)

    @staticmethod
    def _fit_check_faces(train: PackedSplit, size: int) -> dict[str, PackedSplit]:
        """Per dataset of the training faces: canonical crops of every k-th face (at most
        ``FIT_CHECK_FACES``), as validation crops are."""
        datasets = np.array([dataset_of(name) for name in train.cache.names])
        fit = {}
        for name in dict.fromkeys(datasets):
            members = np.flatnonzero(datasets == name)
            fit[name] = Trainer._fit_check_split(train, size, members[:: max(1, len(members) // FIT_CHECK_FACES)][:FIT_CHECK_FACES])
        return fit

    @staticmethod
    def _fit_check_split(train: PackedSplit, size: int, idx: np.ndarray) -> PackedSplit:
        c = train.cache
        canonical = c.canonical
        images = np.stack([warp_image(c.images[i], canonical, size) for i in idx])
        crops = [FaceCrop(c.crops[i].cx, c.crops[i].cy, c.crops[i].size / c.margin, c.crops[i].angle) for i in idx]
        points = np.stack([to_crop(train.image_points[i], k, size) for i, k in zip(idx, crops)]).astype(np.float32)
        cache = CropCache(images, points, 1.0, crops, [c.names[i] for i in idx])
        pick = (lambda a: a[idx] if a is not None else None)  # noqa: E731
        return PackedSplit(cache, train.image_points[idx], pick(train.boxes), pick(train.visible))

    def _load_teacher(self, path: str) -> StackedHourglass:
        teacher = load_weights(path, map_location=self.device).hourglass
        if teacher.config.num_points != self.cfg.model.num_points:
            raise InputError(f"teacher {path} predicts {teacher.config.num_points} points, the student {self.cfg.model.num_points}")
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher.to(self.device, memory_format=self.memory_format).eval()

    # ----------------------------------------------------------------- persistence
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def save_checkpoint(self, optimizer: torch.optim.Optimizer | None) -> None:
        if not self.dist.is_main:
            return
        payload = {
            "state": self.state.__dict__,
            "hourglass": self.hourglass.state_dict(),
            "ghcu": self.ghcu.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "labels": torch.from_numpy(self.dataset.labels),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }
        with atomic_write(self.checkpoint_path) as tmp:
            torch.save(payload, tmp)

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.is_file():
            return None
        payload = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        self.state = RunState(**payload["state"])
        self.hourglass.load_state_dict(payload["hourglass"])
        self.ghcu.load_state_dict(payload["ghcu"])
        self.dataset.labels = payload["labels"].numpy().copy()
        if self.ema is not None:
            if payload.get("ema") is not None:
                self.ema.load_state_dict(payload["ema"])
            else:  # a checkpoint from a run without an average: start it from the resumed weights
                self.ema = self._new_ema()
        log.info("resumed at stage %s, %d epochs done", self.state.stage, self.state.epoch)
        return payload.get("optimizer")

    def init_from(self, path: Path) -> list[str]:
        """Start from a weights file (e.g. a finished baseline) instead of random initialisation.

        Of a network with another head (e.g. a stride-4 model for a stride-2 one) every tensor whose
        name and shape match is copied, the rest stay random; returns the names of those left new."""
        model = load_weights(path, map_location=self.device)
        source = model.hourglass.state_dict()
        if model.hourglass.config == self.cfg.model:
            self.hourglass.load_state_dict(source)
            fresh: list[str] = []
        else:
            own = self.hourglass.state_dict()
            shared = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
            fresh = sorted(set(own) - set(shared))
            if not shared:
                raise InputError(f"{path} holds a {model.hourglass.config}, which shares no tensor with {self.cfg.model}")
            self.hourglass.load_state_dict(shared, strict=False)
            log.info("initialised %d of %d tensors from %s; new: %s", len(shared), len(own), path, ", ".join(fresh[:8]))
        if model.ghcu is not None and model.ghcu.config == self.cfg.ghcu_model:
            self.ghcu.load_state_dict(model.ghcu.state_dict())
        if self.ema is not None:
            self.ema = self._new_ema()
        return fresh

    def export(self, name: str, with_ghcu: bool, point_offsets: np.ndarray | None = None) -> Path:
        path = self.run_dir / "weights" / f"{name}.pt"
        if self.dist.is_main:
            path.parent.mkdir(exist_ok=True)
            meta = {"preset": self.cfg.preset, "stage": name, "val_nme_ip": self.state.results}
            if point_offsets is not None:
                meta["point_offsets"] = {"data": "the run's 300-W training faces (all of its faces if it has none)"}
            model = LandmarkModel(self.network, self.ghcu if with_ghcu else None, meta, point_offsets=point_offsets)
            save_weights(path, model)
        return path

    @torch.no_grad()
    def measure_point_offsets(self, with_ghcu: bool) -> np.ndarray | None:
        """Each point's mean signed error on the canonical crops of the training faces, against the
        annotations (not SA's searched labels), in crop sides (``tracker.train.point_offsets``). In a
        mixed run only 300-W's faces count: the offsets pull the points to the markup's convention,
        and another dataset's annotators place some points elsewhere."""
        if not self.dist.is_main or not len(self.train_cache):
            return None
        cache, size = self.train_cache, self.cfg.model.input_size
        datasets = np.array([dataset_of(name) for name in cache.names])
        faces = np.flatnonzero(datasets == W300) if (datasets == W300).any() else np.arange(len(cache))
        canonical = cache.canonical
        crops = np.stack([warp_image(cache.images[i], canonical, size) for i in faces])
        annotated = apply_affine(canonical.matrix(size), cache.points[faces])
        return measure_on_crops(LandmarkModel(self.network, self.ghcu if with_ghcu else None), crops, annotated, str(self.device))

    # ----------------------------------------------------------------- data
    def loader(self, stage: StageConfig, epoch: int, stage_index: int) -> DataLoader:
        self.dataset.set_epoch(stage_index * 10_000 + epoch)
        seed = self.cfg.seed + stage_index
        datasets = np.array([dataset_of(name) for name in self.train_cache.names])
        if self.cfg.w300_share > 0 and len(set(datasets)) > 1:
            sampler: Sampler[int] = MixedEpochSampler(datasets, W300, self.cfg.w300_share, seed, self.dist.rank, self.dist.world_size)
        else:
            sampler = DistributedSampler(self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return DataLoader(
            self.dataset, batch_size=stage.batch_size, sampler=sampler, num_workers=self.cfg.num_workers,
            drop_last=len(sampler) > stage.batch_size, pin_memory=self.device.type == "cuda",
        )

    # ----------------------------------------------------------------- steps
    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.dist.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        """Crops rendered at ``render_size`` (uint8) -> network input at the model's size, on the device,
        channels-last on CUDA (faster convolutions with bf16)."""
        x = to_network_input(images, self.device)
        return self._resize(x, self.cfg.model.input_size).contiguous(memory_format=self.memory_format)

    @staticmethod
    def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
        return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area" if size < x.shape[-1] else "bilinear")

    def _to_model_pixels(self, points: torch.Tensor) -> torch.Tensor:
        """Points in ``render_size`` crop pixels -> model-input pixels (pixel centres kept)."""
        k = self.cfg.model.input_size / self.render_size
        return (points + 0.5) * k - 0.5 if k != 1 else points

    def _to_render_pixels(self, points: torch.Tensor) -> torch.Tensor:
        k = self.cfg.model.input_size / self.render_size
        return (points + 0.5) / k - 0.5 if k != 1 else points

    def fit_epoch(
        self, model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, batch_loss, average: bool = False,
    ) -> float:
        """One optimisation pass over ``loader``; ``batch_loss(model, images, points)`` with uint8 crops at
        ``render_size`` and points in model-input pixels; ``average``: update the hourglass's EMA after
        every step. Returns the mean loss."""
        model.train()
        total, count = 0.0, 0
        for images, points, _ in loader:
            loss = batch_loss(model, images, self._to_model_pixels(points.to(self.device)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average:
                self._update_ema()
            total += loss.item() * len(images)
            count += len(images)
        return total / max(count, 1)

    def heatmap_loss(self, model: torch.nn.Module, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Intermediate supervision: the configured loss on every stack's heatmaps, against the labels'
        Gaussians and, when distilling, ``distill.weight`` x against the teacher's heatmaps of the same crop."""
        points, labelled = labelled_points(points)  # unlabelled (self-occluded) points carry no loss
        heatmap_points = input_to_heatmap(points, self.cfg.model.heatmap_stride)
        target = render_gaussians(heatmap_points, self.cfg.model.heatmap_size, self.cfg.heatmap_sigma)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            outputs = model(self._input(images))
        loss = sum(heatmap_loss(self.cfg.loss, o.float(), target, labelled) for o in outputs) * self.cfg.distill.label_weight
        if self.cfg.coord_loss_weight > 0:
            radius = self.cfg.coord_radius
            coords = sum(coordinate_loss(o.float(), target, heatmap_points, radius, labelled) for o in outputs)
            loss = loss + self.cfg.coord_loss_weight * self.cfg.distill.label_weight * coords
        if self.teacher is not None:
            taught = self.teacher_heatmaps(images)
            loss = loss + self.cfg.distill.weight * sum(heatmap_loss(self.cfg.loss, o.float(), taught) for o in outputs)
        return loss

    @torch.no_grad()
    def teacher_heatmaps(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's last heatmaps of ``images`` (at its own input size), resampled to the student's
        heatmap grid (both grids span the crop, so bilinear resampling keeps pixel centres aligned)."""
        x = self._resize(to_network_input(images, self.device), self.teacher.config.input_size)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            maps = self.teacher(x.contiguous(memory_format=self.memory_format))[-1].float()
        size = self.cfg.model.heatmap_size
        if maps.shape[-1] != size:
            maps = F.interpolate(maps, size=(size, size), mode="area" if size < maps.shape[-1] else "bilinear")
        return maps.clamp(0.0, 1.0)

    def ghcu_loss(self, model: torch.nn.Module, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """GHCU on the frozen hourglass's heatmaps of augmented crops; L1 in heatmap pixels."""
        size = self.cfg.model.heatmap_size
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            heatmaps = self.network(self._input(images))[-1].float()
        decoded, _ = decode(heatmaps, MODULATION_SIGMA)  # as the predictor decodes
        pred = model(heatmaps, heatmap_to_unit(decoded, size))
        points, labelled = labelled_points(points)
        target = heatmap_to_unit(input_to_heatmap(points, self.cfg.model.heatmap_stride), size)
        weight = labelled[..., None].to(pred.dtype).expand_as(pred)
        return ((pred - target).abs() * weight).sum() / weight.sum().clamp_min(1.0) * size

    @torch.no_grad()
    def search_labels(self) -> None:
        """SA step 1 over the whole training set with the current network; o <- y^."""
        self.network.eval()
        n = len(self.dataset)
        mine = [i for i in range(n) if i % self.dist.world_size == self.dist.rank]
        found = torch.zeros((n, *self.dataset.labels.shape[1:]), dtype=torch.float64, device=self.device)
        for start in range(0, len(mine), SEARCH_BATCH):
            idx = mine[start : start + SEARCH_BATCH]
            items = [self.dataset.canonical_item(i) for i in idx]
            images = torch.stack([im for im, _ in items])
            observed_input = self._to_model_pixels(torch.stack([p for _, p in items]).to(self.device))
            observed, labelled = labelled_points(input_to_heatmap(observed_input, self.cfg.model.heatmap_stride))
            heatmaps = self.network(self._input(images))[-1].float()
            latent = search_latent_points(heatmaps, observed, self.cfg.search, self.cfg.heatmap_sigma)
            latent = torch.where(labelled[..., None], latent, torch.full_like(latent, float("nan")))  # no label: none searched
            latent_input = self._to_render_pixels(heatmap_to_input(latent, self.cfg.model.heatmap_stride))
            cache_pts = self.dataset.input_to_cache(latent_input.cpu().numpy().astype(np.float64))
            found[idx] = torch.from_numpy(cache_pts).to(found)
        all_reduce_sum(found, self.dist)
        self.dataset.labels = found.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def validate(self, with_ghcu: bool, point_offsets: np.ndarray | None = None) -> float | None:
        """Validation NME (%), canonical crops from the ground truth: inter-pupil for 68 points,
        face-box size where the dataset provides boxes (AFLW); ``point_offsets`` subtracted if given."""
        if self.val is None or not self.dist.is_main:
            return None
        return self._nme(self.val, with_ghcu, point_offsets)

    def fit_check(self, with_ghcu: bool) -> dict[str, float]:
        """The same NME on up to ``FIT_CHECK_FACES`` training faces against their annotations: beside the
        validation NME it shows whether the model fits its training data (under- or overfitting)."""
        if not self.dist.is_main:
            return {}
        return {name: self._nme(split, with_ghcu) for name, split in self.fit.items()}

    @torch.no_grad()
    def _nme(self, split: PackedSplit, with_ghcu: bool, point_offsets: np.ndarray | None = None) -> float:
        """Mean NME (%) as ``tracker eval`` scores it, over the labelled points: inter-pupil, or face size
        where the dataset has boxes (AFLW) or where points lack labels (AFLW_MERLRAV: the box of the
        labelled points, ``labelled_box``); faces with no labelled point are left out."""
        model = LandmarkModel(self.network, self.ghcu if with_ghcu else None, point_offsets=point_offsets)
        predictor = LandmarkPredictor(model, self.device, GraphOptions(ghcu=with_ghcu))
        cache, gt = split.cache, split.image_points
        preds = []
        for start in range(0, len(cache), 32):
            out = predictor.predict_warped(cache.images[start : start + 32])
            preds.append(out.points.cpu().numpy().astype(np.float64))
        pts = np.concatenate(preds)
        image_pts = np.stack([from_crop(p, c, cache.size) for p, c in zip(pts, cache.crops)])
        if split.boxes is not None:
            return float(np.nanmean(nme(image_pts, gt, "box", boxes=split.boxes, visible=split.visible)) * 100)
        labelled = np.isfinite(gt).all(axis=-1)
        if not labelled.all():
            return float(np.nanmean(nme(image_pts, gt, "box", boxes=labelled_box(gt), visible=labelled)) * 100)
        return float(nme(image_pts, gt, "inter_pupil").mean() * 100)

    # ----------------------------------------------------------------- stages
    def run(self, stages: tuple[str, ...] = STAGES, resume: bool = True, epoch_budget: int | None = None) -> dict[str, float]:
        """Run ``stages`` from the checkpoint (if ``resume``); stop cleanly after ``epoch_budget`` epochs."""
        optimizer_state = self.load_checkpoint() if resume else None
        self._budget = epoch_budget
        self.stopped_early = False
        for stage_index, stage in enumerate(STAGES):
            if stage not in stages or STAGES.index(stage) < STAGES.index(self.state.stage):
                continue
            start = self.state.epoch if stage == self.state.stage else 0
            if stage != self.state.stage:
                self.state.stage, self.state.epoch, optimizer_state = stage, 0, None
            if not self._run_stage(stage, stage_index, start, optimizer_state):
                self.stopped_early = True
                break
            optimizer_state = None
        barrier(self.dist)
        self._check_ranks_agree()
        return self.state.results

    def _check_ranks_agree(self) -> None:
        if not self.dist.enabled:
            return
        divergence = max(max_param_divergence(self.hourglass, self.dist), max_param_divergence(self.ghcu, self.dist))
        if self.dist.is_main:
            (self.run_dir / "ddp_check.json").write_text(json.dumps({"world_size": self.dist.world_size, "max_divergence": divergence}))
            log.info("weights across %d ranks differ by at most %g", self.dist.world_size, divergence)

    _budget: int | None = None
    stopped_early = False  # the last ``run`` stopped at its epoch or time budget, resumable

    def _run_stage(self, stage: str, stage_index: int, start: int, optimizer_state: dict | None) -> bool:
        """Train one stage from epoch ``start``; False when the epoch budget ran out first."""
        scfg: StageConfig = getattr(self.cfg, stage)
        trainable = self.ghcu if stage == "ghcu" else self.hourglass
        model = self._wrap(trainable)
        optimizer = torch.optim.RMSprop(trainable.parameters(), lr=scfg.lr)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        for epoch in range(start, scfg.epochs):
            if self._out_of_time(stage):
                return False
            if self._budget is not None:
                if self._budget <= 0:
                    return False
                self._budget -= 1
            t0 = time.perf_counter()
            torch.manual_seed(epoch_seed(self.cfg.seed, stage_index, epoch))
            for group in optimizer.param_groups:
                group["lr"] = stage_lr(scfg, epoch)
            if stage == "sa":
                self.search_labels()
                self._save_searched(epoch)
            loader = self.loader(scfg, epoch, stage_index)
            if stage == "ghcu":
                self.network.eval()  # frozen: its BatchNorm statistics stay as trained
            hourglass_stage = stage != "ghcu"
            loss = self.fit_epoch(model, loader, optimizer, self.heatmap_loss if hourglass_stage else self.ghcu_loss, hourglass_stage)
            sync_buffers(trainable, self.dist)
            val = self.validate(with_ghcu=stage == "ghcu")
            fit = self.fit_check(with_ghcu=stage == "ghcu")
            self.state.epoch = epoch + 1
            record = {"stage": stage, "epoch": epoch, "lr": stage_lr(scfg, epoch), "loss": loss, "val_nme_ip": val,
                      **fit_record(fit), "seconds": round(time.perf_counter() - t0, 1)}
            self.state.history.append(record)
            self.save_checkpoint(optimizer)
            self._log(record)  # after the checkpoint: the log lists only epochs a resume will not run again
            if hourglass_stage:
                self.export("latest", with_ghcu=False)  # the network as it stands, for checks while a long run goes on
        self._finish_stage(stage)
        return True

    def _out_of_time(self, stage: str) -> bool:
        """Whether the next epoch of ``stage``, as long as its recent ones (the median of the last
        ``RECENT_EPOCHS``: one epoch stretched by a pause does not count), would end after the deadline."""
        if self.deadline is None:
            return False
        last = [r["seconds"] for r in self.state.history if r["stage"] == stage][-RECENT_EPOCHS:]
        expected = float(np.median(last)) if last else 0.0
        if time.monotonic() + expected <= self.deadline:
            return False
        log.info("time budget reached before %s epoch %d; re-run the same command to resume", stage, self.state.epoch)
        return True

    def _finish_stage(self, stage: str) -> None:
        sa_ran = any(r["stage"] == "sa" for r in self.state.history)
        names = {"baseline": ("baseline", False, "HG"), "sa": ("sa", False, "HG+SA"),
                 "ghcu": ("final", True, "HG+SA+GHCU" if sa_ran else "HG+GHCU")}
        name, with_ghcu, row = names[stage]
        offsets = self.measure_point_offsets(with_ghcu)
        val = self.validate(with_ghcu=with_ghcu, point_offsets=offsets)
        if val is not None:
            self.state.results[row] = val
        self.export(name, with_ghcu, offsets)
        if self.dist.is_main:
            (self.run_dir / "metrics.json").write_text(json.dumps(self.state.results, indent=2))

    def _save_searched(self, epoch: int) -> None:
        """Searched points per SA epoch in source-image pixels, and the annotation-vs-search figure."""
        if not self.dist.is_main:
            return
        out = self.run_dir / "sa_labels"
        out.mkdir(exist_ok=True)
        size = self.train_cache.size
        image_pts = np.stack([from_crop(p, c, size) for p, c in zip(self.dataset.labels, self.train_cache.crops)])
        np.save(out / f"epoch_{epoch:02d}.npy", image_pts.astype(np.float32))
        k = min(FIGURE_FACES, len(self.train_cache))
        plot_label_changes(self.train_cache.images[:k], self.train_cache.points[:k], self.dataset.labels[:k], self.run_dir / "sa_points.png")

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "log.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        plot_history(self.state.history, self.run_dir)
        val = record["val_nme_ip"]
        log.info("%s epoch %d  loss %.4f  val NME %s  (%.0fs)", record["stage"], record["epoch"], record["loss"],
                 f"{val:.3f}%" if val is not None else "-", record["seconds"])
