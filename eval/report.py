"""Summaries with the JSON keys scripts rely on, printed tables and CED plots."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tracker.io.atomic import atomic_write
from tracker.metrics import auc, ced, failure_rate

THRESHOLDS = (0.08, 0.10)


def summarise(errors: Mapping[str, np.ndarray], primary: str, count_key: str = "n_faces") -> dict[str, Any]:
    """Means of each normaliser's per-face errors, and AUC / failure rate of the ``primary`` one, in %.

    Faces or frames without a prediction carry ``inf`` in every error: they count as failures and
    are left out of the means (``n_missed`` says how many).
    """
    primary_errors = np.asarray(errors[primary], dtype=np.float64)
    found = np.isfinite(primary_errors)
    out: dict[str, Any] = {count_key: int(primary_errors.size), "n_missed": int((~found).sum())}
    for key, values in errors.items():
        values = np.asarray(values, dtype=np.float64)
        out[key] = float(values[np.isfinite(values)].mean() * 100) if np.isfinite(values).any() else None
    for t in THRESHOLDS:
        out[f"auc_{t:.2f}"] = auc(primary_errors, t) * 100 if primary_errors.size else None
        out[f"fr_{t:.2f}"] = failure_rate(primary_errors, t) * 100 if primary_errors.size else None
    out["primary_metric"] = primary
    return out


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def plot_ced(curves: Mapping[str, np.ndarray], threshold: float, path: Path, xlabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, errors in curves.items():
        x, y = ced(errors, threshold)
        ax.plot(x * 100, y, label=f"{name} (AUC {auc(errors, threshold) * 100:.1f})")
    ax.set_xlabel(f"{xlabel} (%)")
    ax.set_ylabel("fraction of faces")
    ax.set_xlim(0, threshold * 100)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
