"""Face-free pictures for training and testing a face check or a detector: procedural textures, and
the regions beside an annotated face (hair, ears, neck) that a detector may mistake for one."""
from __future__ import annotations

import cv2
import numpy as np

from tracker.datasets.faces import FaceSample

TEXTURE_SIZE = (640, 360)  # (w, h): a typical webcam / 360p frame
STRIP_KINDS = ("hair", "left ear", "right ear", "neck")
# strips span from STRIP_REACH[0] to STRIP_REACH[1] landmark-box sides off the face: wider ones catch
# other people's faces in group pictures, which are not face-free
STRIP_REACH = (0.1, 0.4)
NOSE_TIP = 30  # 68-point markup index
MAX_NOSE_OFFSET = 0.1  # ear strips only beside faces whose nose tip is this close to the jaw's middle (fraction of its width)


def texture(rng: np.random.Generator, size: tuple[int, int] = TEXTURE_SIZE) -> np.ndarray:
    """A face-free picture: a muted base colour with smooth noise at a random scale, a light gradient
    and a few flat shapes (walls, furniture, signs)."""
    w, h = size
    cells = int(rng.integers(3, 60))
    base = rng.uniform(40, 210, 3).astype(np.float32)
    noise = rng.normal(0, rng.uniform(8, 45), (cells, max(2, cells * w // h), 1)).astype(np.float32)
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)[..., None] * rng.uniform(0.7, 1.3, 3).astype(np.float32)
    ramp = np.linspace(0, rng.uniform(-60, 60), w, dtype=np.float32)[None, :, None]
    image = np.clip(base + noise + ramp, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        colour = tuple(int(c) for c in np.clip(base + rng.normal(0, 50, 3), 0, 255))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(10, 200)), y + int(rng.integers(10, 200))), colour, -1)
        else:
            cv2.ellipse(image, (x, y), (int(rng.integers(5, 100)), int(rng.integers(5, 100))), float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return image


def face_box(face: FaceSample) -> tuple[np.ndarray, float]:
    lo, hi = face.points.min(axis=0), face.points.max(axis=0)
    return (lo + hi) / 2, float(max(hi - lo))


def _frontal(face: FaceSample) -> bool:
    """The nose tip sits near the middle of the jaw line's width: the face is not turned much."""
    left, right = face.points[:17, 0].min(), face.points[:17, 0].max()
    return abs((face.points[NOSE_TIP, 0] - left) / max(right - left, 1e-6) - 0.5) < MAX_NOSE_OFFSET


def strip(image: np.ndarray, face: FaceSample, kind: str) -> np.ndarray | None:
    """A face-sized region beside the face: hair above the brows, an ear beside the jaw, the neck below."""
    centre, side = face_box(face)
    cx, cy = centre
    if kind.endswith("ear") and not _frontal(face):
        return None  # beside a turned face lies its far cheek, eye or nose: not face-free
    top, bottom = face.points[17:27, 1].min(), face.points[:17, 1].max()
    left, right = face.points[:17, 0].min(), face.points[:17, 0].max()
    near, far = STRIP_REACH
    regions = {  # each reaches from just off the face to ``far`` box sides out: the subject's own head and neck
        "hair": (cx - 0.6 * side, top - far * side, cx + 0.6 * side, top - near * side),
        "left ear": (left - far * side, cy - 0.5 * side, left - near * side, cy + 0.5 * side),
        "right ear": (right + near * side, cy - 0.5 * side, right + far * side, cy + 0.5 * side),
        "neck": (cx - 0.6 * side, bottom + near * side, cx + 0.6 * side, bottom + far * side),
    }
    x0, y0, x1, y1 = (int(round(v)) for v in regions[kind])
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 0.25 * side or y1 - y0 < 0.25 * side:
        return None  # mostly outside the picture
    return image[y0:y1, x0:x1]
