"""The three stages, each resumable at any epoch boundary: baseline HG, SA alternation, GHCU."""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from eval.metrics import nme
from tracker.datasets import FaceSample
from tracker.geometry import from_crop
from tracker.heatmaps import decode, heatmap_to_input, input_to_heatmap, render_gaussians
from tracker.models import GHCU, LandmarkModel, StackedHourglass, load_weights, save_weights
from tracker.models.hourglass import STEM_STRIDE
from tracker.predictor import LandmarkPredictor, heatmap_to_unit, to_network_input
from train.cache import build_cache
from train.config import StageConfig, TrainConfig
from train.data import LandmarkDataset
from train.distributed import DistInfo, all_reduce_sum, barrier, max_param_divergence, sync_buffers
from train.plots import plot_history, plot_label_changes
from train.semantic_alignment import search_latent_points

log = logging.getLogger(__name__)

STAGES = ("baseline", "sa", "ghcu")
FIGURE_FACES = 4
SEARCH_BATCH = 32


def stage_lr(stage: StageConfig, epoch: int) -> float:
    """Exponential decay from ``lr`` to ``lr_final`` over the stage's epochs."""
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


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        train_faces: list[FaceSample],
        val_faces: list[FaceSample],
        run_dir: Path,
        device: torch.device,
        dist_info: DistInfo = DistInfo(),
        cache_dir: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.device = device
        self.dist = dist_info
        self.amp = cfg.amp and device.type == "cuda"
        torch.manual_seed(cfg.seed)
        self.hourglass = StackedHourglass(cfg.model).to(device)
        self.ghcu = GHCU(cfg.ghcu_model).to(device)
        if cfg.ghcu_model.heatmap_size != cfg.model.heatmap_size:
            raise ValueError("ghcu_model.heatmap_size must equal the hourglass heatmap size")
        cache_size = int(round(cfg.model.input_size * cfg.cache_margin))
        if not self.dist.is_main:  # rank 0 builds (and saves) the crop cache; the others then read it
            barrier(self.dist)
        self.train_cache = build_cache(train_faces, cache_size, cfg.cache_margin, cache_dir)
        self.val_cache = build_cache(val_faces, cfg.model.input_size, 1.0, cache_dir) if val_faces else None
        if self.dist.is_main:
            barrier(self.dist)
        self.val_gt = np.stack([f.points for f in val_faces]) if val_faces else None
        self.val_boxes = np.array([f.box for f in val_faces], dtype=np.float64) if val_faces and val_faces[0].box else None
        self.dataset = LandmarkDataset(self.train_cache, cfg.model.input_size, cfg.augment, cfg.seed)
        self.state = RunState()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(cfg.to_json())

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
        }
        tmp = self.checkpoint_path.with_suffix(".partial")
        torch.save(payload, tmp)
        os.replace(tmp, self.checkpoint_path)

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.is_file():
            return None
        payload = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        self.state = RunState(**payload["state"])
        self.hourglass.load_state_dict(payload["hourglass"])
        self.ghcu.load_state_dict(payload["ghcu"])
        self.dataset.labels = payload["labels"].numpy().copy()
        log.info("resumed at stage %s, %d epochs done", self.state.stage, self.state.epoch)
        return payload.get("optimizer")

    def init_from(self, path: Path) -> None:
        """Start from a weights file (e.g. a finished baseline) instead of random initialisation."""
        model = load_weights(path, map_location=self.device)
        if model.hourglass.config != self.cfg.model:
            raise ValueError(f"{path} holds a {model.hourglass.config}, not the configured {self.cfg.model}")
        self.hourglass.load_state_dict(model.hourglass.state_dict())
        if model.ghcu is not None and model.ghcu.config == self.cfg.ghcu_model:
            self.ghcu.load_state_dict(model.ghcu.state_dict())

    def export(self, name: str, with_ghcu: bool) -> Path:
        path = self.run_dir / "weights" / f"{name}.pt"
        if self.dist.is_main:
            path.parent.mkdir(exist_ok=True)
            meta = {"preset": self.cfg.preset, "stage": name, "val_nme_ip": self.state.results}
            save_weights(path, LandmarkModel(self.hourglass, self.ghcu if with_ghcu else None, meta))
        return path

    # ----------------------------------------------------------------- data
    def loader(self, stage: StageConfig, epoch: int, stage_index: int) -> DataLoader:
        self.dataset.set_epoch(stage_index * 10_000 + epoch)
        sampler = DistributedSampler(
            self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True, seed=self.cfg.seed + stage_index
        )
        sampler.set_epoch(epoch)
        return DataLoader(
            self.dataset, batch_size=stage.batch_size, sampler=sampler, num_workers=self.cfg.num_workers,
            drop_last=len(self.dataset) // self.dist.world_size > stage.batch_size, pin_memory=self.device.type == "cuda",
        )

    # ----------------------------------------------------------------- steps
    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.dist.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _targets(self, points: torch.Tensor) -> torch.Tensor:
        return render_gaussians(input_to_heatmap(points, STEM_STRIDE), self.cfg.model.heatmap_size, self.cfg.heatmap_sigma)

    def fit_epoch(self, model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, batch_loss) -> float:
        """One optimisation pass over ``loader``; ``batch_loss(model, images, points)``; returns the mean loss."""
        model.train()
        total, count = 0.0, 0
        for images, points, _ in loader:
            loss = batch_loss(model, images, points.to(self.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(images)
            count += len(images)
        return total / max(count, 1)

    def heatmap_loss(self, model: torch.nn.Module, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Intermediate supervision: MSE on every stack, summed over heatmap pixels, mean over faces and points."""
        target = self._targets(points)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            outputs = model(to_network_input(images, self.device))
        return sum(F.mse_loss(o.float(), target, reduction="sum") for o in outputs) / (target.shape[0] * target.shape[1])

    def ghcu_loss(self, model: torch.nn.Module, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """GHCU on the frozen hourglass's heatmaps of augmented crops; L1 in heatmap pixels."""
        size = self.cfg.model.heatmap_size
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            heatmaps = self.hourglass(to_network_input(images, self.device))[-1].float()
        decoded, _ = decode(heatmaps)
        pred = model(heatmaps, heatmap_to_unit(decoded, size))
        target = heatmap_to_unit(input_to_heatmap(points, STEM_STRIDE), size)
        return F.l1_loss(pred, target) * size

    @torch.no_grad()
    def search_labels(self) -> None:
        """SA step 1 over the whole training set with the current network; o <- y^."""
        self.hourglass.eval()
        n = len(self.dataset)
        mine = [i for i in range(n) if i % self.dist.world_size == self.dist.rank]
        found = torch.zeros((n, *self.dataset.labels.shape[1:]), dtype=torch.float64, device=self.device)
        for start in range(0, len(mine), SEARCH_BATCH):
            idx = mine[start : start + SEARCH_BATCH]
            items = [self.dataset.canonical_item(i) for i in idx]
            images = torch.stack([im for im, _ in items])
            observed = input_to_heatmap(torch.stack([p for _, p in items]).to(self.device), STEM_STRIDE)
            heatmaps = self.hourglass(to_network_input(images, self.device))[-1].float()
            latent = search_latent_points(heatmaps, observed, self.cfg.search)
            latent_input = heatmap_to_input(latent, STEM_STRIDE)
            cache_pts = self.dataset.input_to_cache(latent_input.cpu().numpy().astype(np.float64))
            found[idx] = torch.from_numpy(cache_pts).to(found)
        all_reduce_sum(found, self.dist)
        self.dataset.labels = found.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def validate(self, with_ghcu: bool) -> float | None:
        """Validation NME (%), canonical crops from the ground truth: inter-pupil for 68 points,
        face-box size where the dataset provides boxes (AFLW)."""
        if self.val_cache is None or not self.dist.is_main:
            return None
        model = LandmarkModel(self.hourglass, self.ghcu if with_ghcu else None)
        predictor = LandmarkPredictor(model, self.device, use_ghcu=with_ghcu)
        preds = []
        for start in range(0, len(self.val_cache), 32):
            out = predictor.predict_batch(self.val_cache.images[start : start + 32])
            preds.append(out.points.cpu().numpy().astype(np.float64))
        pts = np.concatenate(preds)
        size = self.val_cache.size
        image_pts = np.stack([from_crop(p, c, size) for p, c in zip(pts, self.val_cache.crops)])
        if self.val_boxes is not None:
            return float(nme(image_pts, self.val_gt, "box", boxes=self.val_boxes).mean() * 100)
        return float(nme(image_pts, self.val_gt, "inter_pupil").mean() * 100)

    # ----------------------------------------------------------------- stages
    def run(self, stages: tuple[str, ...] = STAGES, resume: bool = True, epoch_budget: int | None = None) -> dict[str, float]:
        """Run ``stages`` from the checkpoint (if ``resume``); stop cleanly after ``epoch_budget`` epochs."""
        optimizer_state = self.load_checkpoint() if resume else None
        self._budget = epoch_budget
        for stage_index, stage in enumerate(STAGES):
            if stage not in stages or STAGES.index(stage) < STAGES.index(self.state.stage):
                continue
            start = self.state.epoch if stage == self.state.stage else 0
            if stage != self.state.stage:
                self.state.stage, self.state.epoch, optimizer_state = stage, 0, None
            if not self._run_stage(stage, stage_index, start, optimizer_state):
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

    def _run_stage(self, stage: str, stage_index: int, start: int, optimizer_state: dict | None) -> bool:
        """Train one stage from epoch ``start``; False when the epoch budget ran out first."""
        scfg: StageConfig = getattr(self.cfg, stage)
        trainable = self.ghcu if stage == "ghcu" else self.hourglass
        model = self._wrap(trainable)
        optimizer = torch.optim.RMSprop(trainable.parameters(), lr=scfg.lr)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        for epoch in range(start, scfg.epochs):
            if self._budget is not None:
                if self._budget <= 0:
                    return False
                self._budget -= 1
            t0 = time.perf_counter()
            torch.manual_seed(self.cfg.seed * 1000 + stage_index * 100 + epoch)
            for group in optimizer.param_groups:
                group["lr"] = stage_lr(scfg, epoch)
            if stage == "sa":
                self.search_labels()
                self._save_searched(epoch)
            loader = self.loader(scfg, epoch, stage_index)
            if stage == "ghcu":
                self.hourglass.eval()  # frozen: its BatchNorm statistics stay as trained
            loss = self.fit_epoch(model, loader, optimizer, self.ghcu_loss if stage == "ghcu" else self.heatmap_loss)
            sync_buffers(trainable, self.dist)
            val = self.validate(with_ghcu=stage == "ghcu")
            self.state.epoch = epoch + 1
            record = {"stage": stage, "epoch": epoch, "lr": stage_lr(scfg, epoch), "loss": loss, "val_nme_ip": val,
                      "seconds": round(time.perf_counter() - t0, 1)}
            self.state.history.append(record)
            self._log(record)
            self.save_checkpoint(optimizer)
        self._finish_stage(stage)
        return True

    def _finish_stage(self, stage: str) -> None:
        sa_ran = any(r["stage"] == "sa" for r in self.state.history)
        names = {"baseline": ("baseline", False, "HG"), "sa": ("sa", False, "HG+SA"),
                 "ghcu": ("final", True, "HG+SA+GHCU" if sa_ran else "HG+GHCU")}
        name, with_ghcu, row = names[stage]
        val = self.validate(with_ghcu=with_ghcu)
        if val is not None:
            self.state.results[row] = val
        self.export(name, with_ghcu)
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
