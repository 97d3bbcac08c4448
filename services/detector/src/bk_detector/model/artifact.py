"""The model artefact on disk: weights.pt (fp16 state dict) + model.json (+ MODEL_CARD.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bk_detector.model.net import KitchenNet
from bkcore.verdicts import ATTRIBUTES as PERSON_ATTRIBUTES
from bkcore.verdicts import OBJECT_LABELS

# The platform's detection concepts, in the shipped model's output order (one owner: bkcore.verdicts,
# which the case-manager's labels and the trainer share).
LABELS: list[str] = list(OBJECT_LABELS)
ATTRIBUTES: list[str] = list(PERSON_ATTRIBUTES)
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "kitchen-v1"


def build(meta: dict[str, Any]) -> KitchenNet:
    arch = meta.get("architecture", {})
    return KitchenNet(
        len(meta["labels"]),
        len(meta["attributes"]),
        tuple(arch.get("widths", (24, 32, 64, 128, 192))),
        tuple(arch.get("depths", (2, 3, 4, 3))),
        int(arch.get("head", 64)),
    )


def save_artifact(path: Path, model: KitchenNet, meta: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, path / "weights.pt")
    (path / "model.json").write_text(json.dumps(meta, indent=2))


def load_artifact(path: Path) -> tuple[KitchenNet, dict[str, Any]]:
    meta = json.loads((path / "model.json").read_text())
    model = build(meta)
    state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), meta


def default_meta(input_width: int, input_height: int) -> dict[str, Any]:
    return {
        "name": "kitchen",
        "version": "0",
        "labels": LABELS,
        "attributes": ATTRIBUTES,
        "input_width": input_width,
        "input_height": input_height,
        "architecture": {
            "type": "KitchenNet",
            "widths": [24, 32, 64, 128, 192],
            "depths": [2, 3, 4, 3],
            "head": 64,
            "stride": 4,
        },
        "thresholds": dict.fromkeys(LABELS, 0.3),
        "metrics": {},
        "training": {},
    }
