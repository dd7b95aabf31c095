"""``tracker quantize``: add int8 activation ranges, calibrated on 300-W training faces, to a weights file."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from eval.still import predict_faces, still_errors
from tracker.datasets import FaceSample, load_image_rgb, w300
from tracker.geometry import crop_from_points, warp_image
from tracker.models import WeightsError, save_weights
from tracker.models.hourglass import FirstStacks
from tracker.predictor import LandmarkPredictor, to_network_input
from tracker.quantization import QuantizationError, calibrate, int8_available
from tracker.weights_registry import load_model

CALIBRATION_BATCH = 32


def calibration_batches(faces: Sequence[FaceSample], size: int) -> Iterator[torch.Tensor]:
    """Network inputs of the faces' canonical crops (as in training and evaluation), in batches."""
    for start in range(0, len(faces), CALIBRATION_BATCH):
        chunk = faces[start : start + CALIBRATION_BATCH]
        crops = [warp_image(load_image_rgb(f.image_path), crop_from_points(f.points), size) for f in chunk]
        yield to_network_input(np.stack(crops))


def _nme(predictor: LandmarkPredictor, faces: Sequence[FaceSample]) -> float:
    return float(still_errors(predict_faces(predictor, faces), faces)["nme_ip"].mean() * 100)


def run(
    root: Annotated[Path, typer.Option(help="300-W root: calibration faces from its training split")],
    out: Annotated[Path, typer.Option(help="weights file to write (may be the input)")],
    weights: Annotated[Path | None, typer.Option(help="weights to calibrate (default: the bundled model)")] = None,
    faces: Annotated[int, typer.Option(min=1, help="training faces to calibrate on")] = 128,
    seed: Annotated[int, typer.Option(help="which faces")] = 0,
) -> None:
    """Calibrate int8 CPU inference for a weights file; prints its NME against float on 300-W common."""
    try:
        if not int8_available():
            raise QuantizationError("this PyTorch build has no fbgemm engine (x86 CPUs): int8 is not available")
        model = load_model(weights)
        train = w300.load_split(root, "train").faces
        chosen = [train[i] for i in np.random.default_rng(seed).choice(len(train), min(faces, len(train)), replace=False)]
        network = FirstStacks(model.hourglass, model.config.num_stacks)
        model.int8_ranges = calibrate(network, calibration_batches(chosen, model.config.input_size))
        model.meta["int8_calibration"] = {"data": "300-W train", "faces": len(chosen), "seed": seed}
        try:
            test = w300.load_split(root, "common").faces
        except FileNotFoundError:
            test = []
        if test:
            for name, int8 in (("float", False), ("int8", True)):
                nme = _nme(LandmarkPredictor(model, "cpu", freeze=True, int8=int8), test)
                typer.echo(f"300-W common ({len(test)} faces) NME inter-pupil, {name}: {nme:.2f}%")
        save_weights(out, model)
    except (FileNotFoundError, WeightsError, QuantizationError) as err:
        typer.echo(f"error: {str(err).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out} (int8 ranges from {len(chosen)} 300-W training faces)")
