"""``tracker train``: one command per dataset, presets and stages selectable."""
from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Annotated

import torch
import typer

from tracker.datasets import FaceSample
from tracker.devices import resolve_device
from train.config import preset as make_preset
from train.distributed import init_distributed, shutdown
from train.runner import STAGES, Trainer

class Dataset(str, Enum):
    w300 = "300w"
    aflw = "aflw"
    vw300 = "300vw"


def _faces(dataset: Dataset, root: Path, mat: Path | None, w300_root: Path | None) -> tuple[list[FaceSample], list[FaceSample]]:
    """(train, validation) faces for a dataset's training protocol."""
    from tracker.datasets import w300

    if dataset is Dataset.w300:
        train = w300.load_split(root, "train")
        if train.missing:
            typer.echo(f"note: {train.describe_missing()}", err=True)
        try:
            val = w300.load_split(root, "common")
        except FileNotFoundError:
            typer.echo("note: no 300-W common test faces under the root; training without validation", err=True)
            return train.faces, []
        if val.missing:
            typer.echo(f"note: validation {val.describe_missing()}", err=True)
        return train.faces, val.faces
    if dataset is Dataset.aflw:
        from tracker.datasets import aflw

        if mat is None:
            raise typer.BadParameter("AFLW needs --mat AFLWinfo_release.mat")
        return aflw.load(mat, root, "train"), aflw.load(mat, root, "full")
    from tracker.datasets import vw300

    if w300_root is None:
        raise typer.BadParameter("300-VW training (as in the paper) also needs --w300-root for all of 300-W")
    faces = vw300.training_faces(root, frames_dir=root.parent / f"{root.name}_frames_cache")
    w = [f for split in ("train", "full") for f in w300.load_split(w300_root, split).faces]
    return faces + w, []


def run(
    data: Annotated[Dataset, typer.Option(help="dataset protocol")] = Dataset.w300,
    root: Annotated[Path, typer.Option(help="dataset root (300-W folders, AFLW images, 300-VW videos)")] = Path("data/300W"),
    run_dir: Annotated[Path, typer.Option(help="run directory: config, log, checkpoints, plots, weights")] = Path("runs/compact"),
    preset_name: Annotated[str, typer.Option("--preset", help="paper | compact | tiny")] = "compact",
    stages: Annotated[str, typer.Option(help="comma-separated subset of baseline,sa,ghcu")] = ",".join(STAGES),
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    mat: Annotated[Path | None, typer.Option(help="AFLWinfo_release.mat (AFLW)")] = None,
    w300_root: Annotated[Path | None, typer.Option(help="300-W root (300-VW training)")] = None,
    baseline_epochs: Annotated[int | None, typer.Option(help="override the preset's stage-1 epochs")] = None,
    sa_epochs: Annotated[int | None, typer.Option(help="override the preset's SA epochs")] = None,
    ghcu_epochs: Annotated[int | None, typer.Option(help="override the preset's GHCU epochs")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="where decoded crops are cached")] = Path(".cache/crops"),
    fresh: Annotated[bool, typer.Option(help="ignore an existing checkpoint in the run directory")] = False,
    epoch_budget: Annotated[int | None, typer.Option(help="stop (resumably) after this many epochs in this call")] = None,
    init_weights: Annotated[Path | None, typer.Option(help="start from these weights (e.g. --stages ghcu on a baseline)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the hourglass, then SA, then the GHCU; re-running the same command resumes where it stopped."""
    from dataclasses import replace

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", force=True)
    chosen = tuple(s.strip() for s in stages.split(",") if s.strip())
    if unknown := set(chosen) - set(STAGES):
        raise typer.BadParameter(f"unknown stage(s) {sorted(unknown)}; use {','.join(STAGES)}")
    cfg = make_preset(preset_name, seed=seed)
    if data is Dataset.aflw:  # AFLW's 19-point markup
        cfg = replace(cfg, model=replace(cfg.model, num_points=19), ghcu_model=replace(cfg.ghcu_model, num_points=19))
    for name, epochs in (("baseline", baseline_epochs), ("sa", sa_epochs), ("ghcu", ghcu_epochs)):
        if epochs is not None:
            cfg = replace(cfg, **{name: replace(getattr(cfg, name), epochs=epochs)})
    dev = resolve_device(device)
    info = init_distributed(dev)
    if dev.type == "cuda" and info.enabled:
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    try:
        train_faces, val_faces = _faces(data, root, mat, w300_root)
        trainer = Trainer(cfg, train_faces, val_faces, run_dir, dev, info, cache_dir)
        if init_weights is not None and (fresh or not trainer.checkpoint_path.is_file()):
            trainer.init_from(init_weights)
        results = trainer.run(chosen, resume=not fresh, epoch_budget=epoch_budget)
    finally:
        shutdown(info)
    if info.is_main:
        for row, value in results.items():
            typer.echo(f"{row:12s} val NME (inter-pupil) {value:.3f}%")
