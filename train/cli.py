"""The training commands: ``tracker train``, ``pack-faces``, ``network-cost``, ``train-speed``, ``face-check`` and ``point-offsets``.

This module imports only typer at the top, so every ``--help`` answers at once; the work imports
PyTorch and the rest when it starts.
"""
from __future__ import annotations

import logging
import os
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

from typing import TYPE_CHECKING

import typer

from tracker.cli_shared import DEFAULT_DEVICE, DeviceOpt, fail, user_errors
from tracker.errors import TrackerError
from tracker.train.defaults import MAX_GPU_WORKERS, PACK_MARGIN, PACK_QUALITY, PACK_TRAIN_SIZE, PACK_VAL_SIZE, STAGES

if TYPE_CHECKING:
    from tracker.datasets import FaceSample


RESUME_HINT = "the run directory keeps every finished epoch; the same command resumes"


class Dataset(str, Enum):
    w300 = "300w"
    aflw = "aflw"
    vw300 = "300vw"


def _faces(
    dataset: Dataset, root: Path, mat: Path | None, w300_root: Path | None, merlrav_root: Path | None = None,
) -> tuple[list[FaceSample], list[FaceSample]]:
    """(train, validation) faces for a dataset's training protocol, plus AFLW_MERLRAV's training faces
    where ``merlrav_root`` is given (68 points: 300-W's and 300-VW's markup)."""
    train, val = _protocol_faces(dataset, root, mat, w300_root)
    if merlrav_root is None:
        return train, val
    if dataset is Dataset.aflw:
        raise typer.BadParameter("--merlrav-root adds 68-point faces; AFLW trains 19 points")
    from tracker.datasets import merlrav

    extra = merlrav.load(merlrav_root, "train")
    typer.echo(f"note: {len(train)} {dataset.value} training faces + {len(extra)} AFLW_MERLRAV training faces", err=True)
    return train + extra, val


def _protocol_faces(dataset: Dataset, root: Path, mat: Path | None, w300_root: Path | None) -> tuple[list[FaceSample], list[FaceSample]]:
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
    preset_name: Annotated[str, typer.Option("--preset", help="paper | compact | compact64 | compact-s2 | compact-tune | compact-long | compact-long-coord | compact-long-tune | pilot-128 | pilot-160 | pilot-3stack | pilot-mixed-half | compact-anneal | compact-anneal-mixed | compact-mixed-long | tiny")] = "compact",
    stages: Annotated[str, typer.Option(help="comma-separated subset of baseline,sa,ghcu")] = ",".join(STAGES),
    device: DeviceOpt = DEFAULT_DEVICE,
    mat: Annotated[Path | None, typer.Option(help="AFLWinfo_release.mat (AFLW)")] = None,
    w300_root: Annotated[Path | None, typer.Option(help="300-W root (300-VW training)")] = None,
    merlrav_root: Annotated[Path | None, typer.Option(help="also train on the AFLW_MERLRAV training faces here (68 points; self-occluded points carry no loss)")] = None,
    baseline_epochs: Annotated[int | None, typer.Option(help="override the preset's stage-1 epochs")] = None,
    sa_epochs: Annotated[int | None, typer.Option(help="override the preset's SA epochs")] = None,
    ghcu_epochs: Annotated[int | None, typer.Option(help="override the preset's GHCU epochs")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="where decoded crops are cached")] = Path(".cache/crops"),
    fresh: Annotated[bool, typer.Option(help="ignore an existing checkpoint in the run directory")] = False,
    epoch_budget: Annotated[int | None, typer.Option(help="stop (resumably) after this many epochs in this call")] = None,
    init_weights: Annotated[Path | None, typer.Option(help="start from these weights (e.g. --stages ghcu on a baseline)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    pack: Annotated[Path | None, typer.Option(help="train from a pack (`tracker pack-faces`) instead of --root")] = None,
    time_budget: Annotated[float | None, typer.Option(help="stop (resumably) before an epoch that would end after this many seconds")] = None,
    workers: Annotated[int | None, typer.Option(help="data-loader processes (default: the preset's; on CUDA one per core, up to 16)")] = None,
    results: Annotated[Path | None, typer.Option(help="also bundle the run's weights, logs and metrics here, in parts of at most 15 MiB")] = None,
    teacher: Annotated[Path | None, typer.Option(help="distil from this stronger model's heatmaps of every augmented crop")] = None,
    distill_weight: Annotated[float, typer.Option(help="weight of the teacher term beside the labels' (weight 1)")] = 1.0,
) -> None:
    """Train the hourglass, then SA, then the GHCU; re-running the same command resumes where it stopped."""
    from dataclasses import replace

    import torch

    from tracker.network.devices import resolve_device
    from tracker.train.config import DistillConfig
    from tracker.train.config import preset as make_preset
    from tracker.train.distributed import end_distributed_worker, init_distributed, shutdown
    from tracker.train.results import bundle_results
    from tracker.train.runner import Trainer, faces_to_splits, pack_to_splits

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
    if teacher is not None:
        cfg = replace(cfg, distill=DistillConfig(teacher=str(teacher), weight=distill_weight))
    dev = resolve_device(device)
    if workers is None and dev.type == "cuda":
        workers = min(MAX_GPU_WORKERS, os.cpu_count() or 1)
    if workers is not None:
        cfg = replace(cfg, num_workers=workers)
    deadline = time.monotonic() + time_budget if time_budget is not None else None
    info = init_distributed(dev)
    if dev.type == "cuda" and info.enabled:
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    # a bad pack, teacher or dataset path: one line; a stop: checkpoints and weights are written
    # atomically, so nothing is half-made and the same command resumes
    with user_errors(stopped=RESUME_HINT):
        try:
            if pack is not None:
                train_split, val_split = pack_to_splits(cfg, pack)
            else:
                train_split, val_split = faces_to_splits(cfg, *_faces(data, root, mat, w300_root, merlrav_root), cache_dir, info)
            trainer = Trainer(cfg, train_split, val_split, run_dir, dev, info, deadline)
            if init_weights is not None and (fresh or not trainer.checkpoint_path.is_file()):
                trainer.init_from(init_weights)
            scores = trainer.run(chosen, resume=not fresh, epoch_budget=epoch_budget)
        except BaseException:
            shutdown(info)
            raise
    if info.is_main:
        for row, value in scores.items():
            typer.echo(f"{row:12s} val NME (inter-pupil) {value:.3f}%")
        if trainer.stopped_early:
            typer.echo(f"stopped at {trainer.state.stage} epoch {trainer.state.epoch}; the same command resumes")
        if results is not None:
            for part in bundle_results(run_dir, results):
                typer.echo(f"results: {part}")
    if info.enabled:
        del trainer
        end_distributed_worker(info)


def pack(
    out: Annotated[Path, typer.Option(help="the pack file to write (.npz)")],
    data: Annotated[Dataset, typer.Option(help="dataset protocol")] = Dataset.w300,
    root: Annotated[Path, typer.Option(help="dataset root (300-W folders, AFLW images, 300-VW videos)")] = Path("data/300W"),
    mat: Annotated[Path | None, typer.Option(help="AFLWinfo_release.mat (AFLW)")] = None,
    w300_root: Annotated[Path | None, typer.Option(help="300-W root (300-VW training)")] = None,
    merlrav_root: Annotated[Path | None, typer.Option(help="also pack the AFLW_MERLRAV training faces here (68 points)")] = None,
    size: Annotated[int, typer.Option(help="side of the stored training crops, px")] = PACK_TRAIN_SIZE,
    val_size: Annotated[int, typer.Option(help="side of the stored validation crops, px")] = PACK_VAL_SIZE,
    margin: Annotated[float, typer.Option(help="training crop side / canonical crop side (the presets' cache_margin)")] = PACK_MARGIN,
    quality: Annotated[int, typer.Option(min=1, max=100, help="WebP quality")] = PACK_QUALITY,
) -> None:
    """Pack the training and validation faces into one small file for `tracker train --pack`."""
    import numpy as np

    from tracker.train.cache import build_cache
    from tracker.train.pack import PackedSplit, write_pack

    train_faces, val_faces = _faces(data, root, mat, w300_root, merlrav_root)
    if not train_faces:
        raise typer.BadParameter(f"no training faces under {root}")
    splits = {}
    for name, faces, side, factor in (("train", train_faces, size, margin), ("val", val_faces, val_size, 1.0)):
        if faces:
            boxes = np.array([f.box for f in faces], dtype=np.float64) if faces[0].box else None
            splits[name] = PackedSplit(build_cache(faces, side, factor), np.stack([f.points for f in faces]), boxes)
    written = write_pack(out, splits, quality)
    counts = ", ".join(f"{len(s.cache)} {name}" for name, s in splits.items())
    typer.echo(f"wrote {out}: {counts} faces, {written / 2**20:.1f} MiB")


def network_cost(
    presets: Annotated[list[str] | None, typer.Option("--preset", help="preset(s) whose hourglass to time (repeatable)")] = None,
    rounds: Annotated[int, typer.Option(help="interleaved timing rounds")] = 10,
) -> None:
    """Milliseconds per face of each preset's hourglass (random weights, PyTorch float), one thread."""
    from tracker.tables import format_table
    from tracker.network.timing import time_architectures
    from tracker.models import StackedHourglass
    from tracker.train.config import preset as make_preset

    names = presets or ["compact", "compact64"]
    try:
        configs = {name: make_preset(name).model for name in names}
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    table = time_architectures(configs, rounds=rounds)
    rows = {
        name: {"params_M": round(sum(p.numel() for p in StackedHourglass(c).parameters()) / 1e6, 2),
               "heatmap": f"{c.heatmap_size}x{c.heatmap_size}", "ms_per_face": round(table[name], 2)}
        for name, c in configs.items()
    }
    typer.echo(format_table(rows, ("params_M", "heatmap", "ms_per_face")))


def train_speed(
    presets: Annotated[list[str] | None, typer.Option("--preset", help="preset(s) to time (repeatable)")] = None,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    steps: Annotated[int, typer.Option(min=1, help="steps per timing")] = 6,
    rounds: Annotated[int, typer.Option(min=1, help="interleaved rounds (the best counts)")] = 2,
    threads: Annotated[int, typer.Option(min=1, help="PyTorch CPU threads")] = 2,
    compile_: Annotated[bool, typer.Option("--compile", help="also time torch.compile (about two minutes per variant to compile on 2 cores)")] = False,
) -> None:
    """Training samples/s of each preset's hourglass step (its losses, RMSprop) on this CPU: fp32,
    channels-last, bf16 autocast and both (and torch.compile with ``--compile``); random data, so it
    times arithmetic, not learning."""
    import torch

    from tracker.tables import format_table
    from tracker.train.config import preset as make_preset
    from tracker.train.precision import bf16_native
    from tracker.train.throughput import ARITHMETICS, COMPILED, training_throughput

    torch.set_num_threads(threads)
    try:
        configs = {name: make_preset(name) for name in presets or ["compact", "compact-long-coord"]}
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    arithmetics = ARITHMETICS + COMPILED if compile_ else ARITHMETICS
    table = training_throughput(configs, batch, steps, rounds, arithmetics)
    typer.echo(f"batch {batch}, {threads} thread(s); native bf16 on this CPU: {bf16_native(torch.device('cpu'))}")
    typer.echo(format_table({n: {k: round(v, 1) for k, v in r.items()} for n, r in table.items()}, tuple(a.name for a in arithmetics)))


def face_check(
    root: Annotated[Path, typer.Option(help="300-W root: training faces teach it, common test faces score it")],
    out: Annotated[Path, typer.Option(help="weights file to write (may be the input)")],
    weights: Annotated[Path | None, typer.Option(help="weights to add a face check to (default: the bundled model)")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    seed: Annotated[int, typer.Option()] = 0,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="p(face) under which the tracker rejects a new face, stored with the weights (default: FaceCheckConfig's, 0.5)")] = None,
) -> None:
    """Train the learned face check (p(face) from the heatmaps) for a weights file; prints held-out precision/recall."""
    import sys
    from dataclasses import replace

    from tracker.train.face_check import FaceCheckTraining, add_face_check

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", force=True)
    defaults = FaceCheckTraining()
    check = defaults.check if threshold is None else replace(defaults.check, threshold=threshold)
    cfg = replace(defaults, epochs=epochs, seed=seed, check=check)
    try:
        lines = add_face_check(str(root), str(out), str(weights) if weights else None, cfg, "tracker " + " ".join(sys.argv[1:]))
    except (FileNotFoundError, TrackerError) as err:
        fail(err)
    for line in lines:
        typer.echo(line)


def point_offsets(
    root: Annotated[Path, typer.Option(help="300-W root: the offsets are measured on its training split")],
    out: Annotated[Path, typer.Option(help="weights file to write (may be the input)")],
    weights: Annotated[Path | None, typer.Option(help="weights to measure (default: the bundled model)")] = None,
) -> None:
    """Store each point's mean signed error on the training faces in a weights file; the predictor subtracts it."""
    from tracker.datasets import w300
    from tracker.models import save_weights
    from tracker.network.weights_registry import load_model
    from tracker.train.point_offsets import measure_on_faces

    try:
        model = load_model(weights)
        faces = w300.load_split(root, "train").faces
    except (FileNotFoundError, TrackerError) as err:
        fail(err)
    model.point_offsets = measure_on_faces(model, faces)
    model.meta["point_offsets"] = {"data": "300-W train", "faces": len(faces)}
    save_weights(out, model)
    mean_x, mean_y = model.point_offsets.mean(axis=0) * model.config.input_size
    typer.echo(f"mean signed error on {len(faces)} training faces: x {mean_x:+.3f}, y {mean_y:+.3f} crop pixels "
               f"(of {model.config.input_size}); wrote {out} with per-point offsets")
