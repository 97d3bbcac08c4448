"""The two-stage detector: real people first, then what they wear, plus our own kitchen classes.

Stage one: NanoDet (COCO, ``model.nanodet``) on the whole frame finds people and mobile phones.
Stage two: each person's crop goes through ``PersonAttributeNet`` (chef hat, mask, uniform,
gloves); its probabilities are averaged with KitchenNet's own attribute head read at the person's
centre (KitchenNet runs on the frame anyway, and on synthetic validation crops the average beats
either alone on every attribute: docs/detector-model.md). Beside them, our KitchenNet (the
shipped kitchen-v1, or a registry version) reports the kitchen classes: cigarette, rodent, flame,
bins. Its own person and phone boxes are dropped: people and phones come from stage one.

All of it is one ``nn.Module`` whose forward returns ``Detections`` with fixed shapes, so the
runtime (``model.runtime``) batches it across cameras, pads it to buckets and captures it as one
CUDA graph exactly as it does KitchenNet. Both networks read the same input (512x288 for the
shipped parts): NanoDet is fully convolutional and runs at any size divisible by 32, and on the
real-photo set it found people better at the frame's own aspect ratio than squeezed to its
416x416 training square (docs/detector-model.md).

The kitchen classes keep KitchenNet's synthetic training; in this model their thresholds are set
so that none of them fires on the real calibration photos (``weights/two-stage/model.json``,
``tools/calibrate_two_stage.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bk_detector.model import attributes as attr
from bk_detector.model.artifact import SHIPPED, load_artifact
from bk_detector.model.decode import Detections, decode
from bk_detector.model.nanodet import NanoDetG, load_nanodet
from bk_detector.model.nanodet import decode as decode_people

WEIGHTS = SHIPPED.parent
TWO_STAGE = WEIGHTS / "two-stage"
PEOPLE_CLASSES = {"person": 0, "phone": 67}  # our label -> COCO class index of NanoDet


class TwoStageNet(nn.Module):
    """N,3,H,W float 0..255 (H, W divisible by 32) -> Detections N x (people_k + kitchen_k)."""

    def __init__(
        self,
        people: NanoDetG,
        attributes: attr.PersonAttributeNet,
        kitchen: nn.Module,
        labels: list[str],
        people_k: int = 16,
        kitchen_k: int = 64,
    ) -> None:
        super().__init__()
        self.people, self.attributes, self.kitchen = people, attributes, kitchen
        self.labels = list(labels)
        self.people_k, self.kitchen_k = people_k, kitchen_k
        self.person, self.phone = self.labels.index("person"), self.labels.index("phone")
        self.coco = [PEOPLE_CLASSES["person"], PEOPLE_CLASSES["phone"]]

    def worn(self, x: torch.Tensor, heads: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """P(worn) N,K,A for people at ``boxes`` (N,K,4 normalised) in frames ``x``, given KitchenNet's
        raw ``heads`` on them: the crop classifier's and KitchenNet's attribute head's (read at each
        person's centre) averaged, which beats either alone on every attribute (synthetic validation)."""
        n, k, _ = boxes.shape
        on_crop = torch.sigmoid(self.attributes(attr.person_crops(x, boxes)).float()).view(n, k, -1)
        # each person's centre in grid_sample's -1..1 coordinates: (x1 + x2) / 2 * 2 - 1
        grid = torch.stack([boxes[..., 0] + boxes[..., 2], boxes[..., 1] + boxes[..., 3]], -1) - 1
        at_centre = F.grid_sample(
            heads[:, len(self.labels) + 4 :].float(), grid.unsqueeze(2), align_corners=False
        )
        return (on_crop + torch.sigmoid(at_centre.squeeze(3).transpose(1, 2))) / 2

    def forward(self, x: torch.Tensor) -> Detections:
        h, w = x.shape[-2:]
        found = decode_people(self.people(x), self.coco, (w, h), k=self.people_k)
        heads = self.kitchen(x)
        worn = self.worn(x, heads, found.boxes)
        people_labels = torch.where(found.classes == 0, self.person, self.phone)
        kd = decode(heads, len(self.labels), self.kitchen_k)
        ours = (kd.labels == self.person) | (kd.labels == self.phone)  # stage one's job now
        return Detections(
            torch.cat([found.scores, kd.scores.masked_fill(ours, 0.0)], 1),
            torch.cat([people_labels, kd.labels], 1),
            torch.cat([found.boxes, kd.boxes], 1),
            torch.cat([worn, kd.attributes.float()], 1),
        )


def read_meta(path: Path = TWO_STAGE) -> dict[str, Any]:
    return json.loads((path / "model.json").read_text())


def load_two_stage(
    kitchen_path: Path | None = None, path: Path = TWO_STAGE
) -> tuple[TwoStageNet, dict[str, Any]]:
    """The network and the runtime's meta (labels, thresholds, input size). ``kitchen_path``: the
    kitchen model's artefact directory (None = the shipped kitchen-v1); its labels must be ours."""
    meta = read_meta(path)
    parts = meta["parts"]
    people_meta = json.loads((WEIGHTS / parts["people"] / "model.json").read_text())
    people = load_nanodet(WEIGHTS / parts["people"] / people_meta["file"], people_meta["sha256"])
    attributes, attr_meta = attr.load(WEIGHTS / parts["attributes"])
    kitchen, kitchen_meta = load_artifact(Path(kitchen_path) if kitchen_path is not None else SHIPPED)
    if kitchen_meta["labels"] != meta["labels"] or attr_meta["attributes"] != meta["attributes"]:
        raise ValueError(
            f"kitchen model {kitchen_meta.get('name')} {kitchen_meta.get('version')}: labels "
            f"{kitchen_meta['labels']} are not the two-stage model's {meta['labels']}"
        )
    if meta["input_width"] % 32 or meta["input_height"] % 32:
        raise ValueError("the two-stage input size must be divisible by 32 (NanoDet's strides)")
    net = TwoStageNet(people, attributes, kitchen, meta["labels"])
    runtime_meta = dict(meta)
    # the version names every part: a change of any of them is a different model
    runtime_meta["version"] = (
        f"{meta['version']}+{people_meta['name']}.{people_meta['version']}"
        f"+{attr_meta['name']}.{attr_meta['version']}"
        f"+{kitchen_meta.get('name', 'kitchen')}.{kitchen_meta.get('version', '0')}"
    )
    return net.eval(), runtime_meta
