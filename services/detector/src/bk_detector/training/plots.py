"""Loss and mAP curves as PNGs (headless matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # training runs on servers without a display
import matplotlib.pyplot as plt


def plot_curves(curves: dict, out_dir: Path) -> list[Path]:
    paths = []
    for key, xs, ys, ylabel in (
        ("loss", curves["step"], curves["loss"], "training loss (EMA)"),
        ("map", curves["eval_step"], curves["map50"], "val mAP@0.5"),
    ):
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if key == "loss" and ys and min(ys) > 0:
            ax.set_yscale("log")
        fig.tight_layout()
        p = out_dir / f"{key}_curve.png"
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    return paths
