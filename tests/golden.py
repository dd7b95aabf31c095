"""Golden landmarks: the default weights' points on a real portrait, framed several ways.

The portrait is Grace Hopper's, which ships with matplotlib. ``tests/data/golden_points.json`` holds,
for each case, the image transform, the face box and the 68 points the default weights gave for it
(the still-image path: the box's crop, then the levelled second pass), with the weights' sha256.
After the default weights change, regenerate it and check the picture it draws by eye:

    python -m tests.golden [--picture golden.png]
"""
from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook

from tracker.api import box_to_crop
from tracker.detection.base import Box
from tracker.network.factory import PredictorConfig, build_predictor
from tracker.network.weights_registry import default_weights_path

GOLDEN_FILE = Path(__file__).parent / "data" / "golden_points.json"
PORTRAIT_BOX: Box = (171.0, 110.0, 346.0, 338.0)  # MTCNN's box on the portrait, rounded
TILT_DEGREES = 25.0
SMALL_SCALE = 1 / 3  # a face about 60 px wide
VIDEO_FRAME = 320  # the portrait, shrunk to VIDEO_PORTRAIT, in a grey square frame (the video tests' clip)
VIDEO_PORTRAIT = (220, 280)
VIDEO_OFFSET = (40, 20)
VIDEO_BACKGROUND = 90


def portrait() -> np.ndarray:
    """Grace Hopper's portrait (600 x 512), RGB."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def video_frame() -> np.ndarray:
    """The portrait shrunk into a grey square frame, as the video tests' clips show it."""
    frame = np.full((VIDEO_FRAME, VIDEO_FRAME, 3), VIDEO_BACKGROUND, np.uint8)
    x, y = VIDEO_OFFSET
    w, h = VIDEO_PORTRAIT
    frame[y : y + h, x : x + w] = cv2.resize(portrait(), (w, h), interpolation=cv2.INTER_AREA)
    return frame


def _scaled_box(box: Box, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Box:
    return (box[0] * sx + dx, box[1] * sy + dy, box[2] * sx + dx, box[3] * sy + dy)


def _tilted() -> tuple[np.ndarray, Box]:
    image = portrait()
    x0, y0, x1, y1 = PORTRAIT_BOX
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    rotation = cv2.getRotationMatrix2D(centre, TILT_DEGREES, 1.0)
    return cv2.warpAffine(image, rotation, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT), PORTRAIT_BOX


def _mirrored() -> tuple[np.ndarray, Box]:
    image = portrait()
    width = image.shape[1]
    x0, y0, x1, y1 = PORTRAIT_BOX
    return np.ascontiguousarray(image[:, ::-1]), (width - x1, y0, width - x0, y1)


def _small() -> tuple[np.ndarray, Box]:
    image = portrait()
    size = (round(image.shape[1] * SMALL_SCALE), round(image.shape[0] * SMALL_SCALE))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, _scaled_box(PORTRAIT_BOX, size[0] / image.shape[1], size[1] / image.shape[0])


def _video() -> tuple[np.ndarray, Box]:
    image = portrait()
    w, h = VIDEO_PORTRAIT
    return video_frame(), _scaled_box(PORTRAIT_BOX, w / image.shape[1], h / image.shape[0], *VIDEO_OFFSET)


def _loose() -> tuple[np.ndarray, Box]:
    x0, y0, x1, y1 = PORTRAIT_BOX
    return portrait(), (x0 - 35, y0 - 20, x1 + 30, y1 + 40)  # a larger box, off centre


CASES: dict[str, Callable[[], tuple[np.ndarray, Box]]] = {
    "portrait": lambda: (portrait(), PORTRAIT_BOX),
    "loose box": _loose,
    "mirrored": _mirrored,
    f"tilted {TILT_DEGREES:g} degrees": _tilted,
    "small": _small,
    "video frame": _video,
}


@dataclass(frozen=True)
class GoldenCase:
    name: str
    image: np.ndarray
    box: Box
    points: np.ndarray  # (68, 2) image pixels


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def predict_case(name: str, onnx_runtime: bool) -> np.ndarray:
    """The default weights' points for case ``name`` on the CPU, on ONNX Runtime or PyTorch."""
    image, box = CASES[name]()
    predictor = build_predictor(PredictorConfig(device="cpu", onnx_runtime=onnx_runtime))
    try:
        return predictor.predict_scored([image], [box_to_crop(box)], norm=True).points[0]
    finally:
        predictor.close()


def load_golden() -> tuple[str, dict[str, GoldenCase]]:
    """The stored weights sha256 and cases."""
    data = json.loads(GOLDEN_FILE.read_text())
    cases = {}
    for name, entry in data["cases"].items():
        image, box = CASES[name]()
        cases[name] = GoldenCase(name, image, box, np.array(entry["points"], np.float64))
    return data["weights_sha256"], cases


def write_golden(picture: Path | None) -> None:
    weights = default_weights_path()
    cases = {name: {"box": list(CASES[name]()[1]), "points": np.round(predict_case(name, onnx_runtime=True), 3).tolist()}
             for name in CASES}
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"  {json.dumps(name)}: {json.dumps(entry)}" for name, entry in cases.items()]  # a case a line
    header = json.dumps({"weights": weights.name, "weights_sha256": sha256(weights)})[:-1]
    GOLDEN_FILE.write_text(header + ', "cases": {\n' + ",\n".join(lines) + "\n}}\n")
    if picture is not None:
        tiles = []
        for name, entry in cases.items():
            image = CASES[name]()[0].copy()
            for x, y in entry["points"]:
                cv2.circle(image, (round(x), round(y)), 2, (255, 0, 0), -1)
            tiles.append(cv2.resize(image, (300, round(300 * image.shape[0] / image.shape[1]))))
        height = max(t.shape[0] for t in tiles)
        row = np.concatenate([np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles], axis=1)
        cv2.imwrite(str(picture), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
    print(f"wrote {GOLDEN_FILE} ({len(cases)} cases)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate the golden landmarks of the default weights.")
    parser.add_argument("--picture", type=Path, help="also draw the points on each case into this image, to check by eye")
    write_golden(parser.parse_args().picture)
