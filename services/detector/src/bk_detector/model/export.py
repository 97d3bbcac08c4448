"""Export the network + on-device decoding to ONNX and TorchScript for other runtimes."""

from __future__ import annotations

from pathlib import Path

import torch

from bk_detector.model.artifact import SHIPPED, load_artifact
from bk_detector.model.decode import decode
from bk_detector.model.net import fuse_bn


class Exported(torch.nn.Module):
    """uint8 N,3,H,W in; scores, labels, boxes (normalised xyxy), attribute probabilities out."""

    def __init__(self, net: torch.nn.Module, num_classes: int, k: int = 64) -> None:
        super().__init__()
        self.net, self.num_classes, self.k = net, num_classes, k

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        d = decode(self.net(x.float()), self.num_classes, self.k)
        return d.scores, d.labels, d.boxes, d.attributes


def _load(path: Path | None) -> tuple[Exported, torch.Tensor]:
    net, meta = load_artifact(Path(path) if path else SHIPPED)
    model = Exported(fuse_bn(net).eval(), len(meta["labels"]))
    return model, torch.zeros(1, 3, meta["input_height"], meta["input_width"], dtype=torch.uint8)


def export_onnx(out: Path, path: Path | None = None, opset: int = 17) -> Path:
    model, example = _load(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the TorchScript-based exporter: needs no onnxscript, and handles top-k / max-pool decode fine
    torch.onnx.export(
        model,
        (example,),
        str(out),
        opset_version=opset,
        dynamo=False,
        input_names=["images"],
        output_names=["scores", "labels", "boxes", "attributes"],
        dynamic_axes={
            "images": {0: "batch"},
            "scores": {0: "batch"},
            "labels": {0: "batch"},
            "boxes": {0: "batch"},
            "attributes": {0: "batch"},
        },
    )
    return out


def export_torchscript(out: Path, path: Path | None = None) -> Path:
    model, example = _load(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        traced = torch.jit.trace(model, (example,), check_trace=False)
    traced.save(str(out))
    return out
