"""Dim faces: a crop darker than ``DARK_CROP_LUMA`` is contrast-equalised (CLAHE) before the network.

The tracker does it to every crop it cuts, and training does it to every augmented crop, so the
network learns on the same equalised dim faces it later sees in a dark hall.
"""
from __future__ import annotations

import cv2
import numpy as np

DARK_CROP_LUMA = 40.0  # mean grey level (0-255) under which a crop counts as dark
DARK_CROP_CLAHE = (3.0, (4, 4))  # clip limit, tiles


def is_dark(crop: np.ndarray) -> bool:
    return float(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).mean()) < DARK_CROP_LUMA


def equalise_if_dark(crop: np.ndarray) -> np.ndarray:
    """``crop`` (RGB uint8) with its lightness contrast-equalised when it is dark; else ``crop`` itself."""
    if not is_dark(crop):
        return crop
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=DARK_CROP_CLAHE[0], tileGridSize=DARK_CROP_CLAHE[1]).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
