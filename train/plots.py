"""Run plots with matplotlib: losses and validation NME per epoch, and SA's label changes."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_history(history: list[dict], out_dir: Path) -> None:
    """``loss.png`` and ``val_nme.png`` (validation faces solid, training faces dashed): one curve per
    stage, x = global epoch."""
    for keys, name, ylabel in ((("loss",), "loss.png", "training loss"),
                               (("val_nme_ip", "train_nme_ip"), "val_nme.png", "NME (inter-pupil, %)")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for key in keys:
            for stage in dict.fromkeys(r["stage"] for r in history):
                rows = [(i, r[key]) for i, r in enumerate(history) if r["stage"] == stage and r.get(key) is not None]
                if rows:
                    x, y = zip(*rows)
                    label = f"{stage}, training faces" if key == "train_nme_ip" else stage
                    ax.plot(x, y, marker=".", label=label, linestyle="--" if key == "train_nme_ip" else "-")
        ax.set_xlabel("epoch (all stages)")
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")  # the late epochs, where training saturates, stay readable
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)


def plot_label_changes(images: np.ndarray, annotations: np.ndarray, searched: np.ndarray, path: Path) -> None:
    """Annotation (green) vs SA-searched points (red) on a few cached crops."""
    count = len(images)
    fig, axes = plt.subplots(1, count, figsize=(3 * count, 3.2))
    for ax, image, ann, found in zip(np.atleast_1d(axes), images, annotations, searched):
        ax.imshow(image)
        ax.scatter(ann[:, 0], ann[:, 1], s=6, c="lime", label="annotation")
        ax.scatter(found[:, 0], found[:, 1], s=6, c="red", label="SA search")
        for a, f in zip(ann, found):
            ax.plot([a[0], f[0]], [a[1], f[1]], c="yellow", lw=0.6)
        ax.axis("off")
    np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
