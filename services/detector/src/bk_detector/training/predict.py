"""Run a model over an in-memory TensorSet and return plain boxes for the metrics."""

from __future__ import annotations

import torch

from bk_detector.model.decode import decode
from bk_detector.training.data import TensorSet
from bk_detector.training.evaluate import Box


@torch.inference_mode()
def predict_set(
    model: torch.nn.Module,
    data: TensorSet,
    labels: list[str],
    attributes: list[str],
    device: str,
    batch: int = 256,
    min_score: float = 0.05,
) -> list[list[Box]]:
    was_training = model.training
    model.eval()
    out: list[list[Box]] = []
    amp = device.startswith("cuda")
    for i in range(0, len(data), batch):
        x = data.images[i : i + batch].to(device).float().contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            det = decode(model(x), len(labels), k=64)
        s, lb, bx, at = (t.cpu().tolist() for t in det)
        for n in range(len(s)):
            out.append(
                [
                    Box(
                        labels[lb[n][j]],
                        tuple(bx[n][j]),
                        s[n][j],  # type: ignore[arg-type]
                        dict(zip(attributes, at[n][j], strict=True)) if lb[n][j] == 0 else {},
                    )
                    for j in range(len(s[n]))
                    if s[n][j] >= min_score
                ]
            )
    model.train(was_training)
    return out


def ground_truth(data: TensorSet, labels: list[str], attributes: list[str]) -> list[list[Box]]:
    out = []
    lab, bx, at = data.labels.tolist(), data.boxes.tolist(), data.attributes.tolist()
    for n in range(len(lab)):
        out.append(
            [
                Box(
                    labels[lab[n][j]],
                    tuple(bx[n][j]),
                    1.0,  # type: ignore[arg-type]
                    {a: v for a, v in zip(attributes, at[n][j], strict=True) if v >= 0},
                )
                for j in range(len(lab[n]))
                if lab[n][j] >= 0
            ]
        )
    return out
