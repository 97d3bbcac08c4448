"""Pure COCO building: confirmed captures become boxes, false alarms become hard negatives."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ExportItem:
    case_id: str
    case_type: str
    verdict: str  # confirmed | false_alarm
    box: tuple[float, ...]  # normalised x1, y1, x2, y2 (may be empty)
    file_name: str
    width: int
    height: int
    camera_id: str
    model_version: str


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG from its header; (0, 0) when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    i = 2 if data[:2] == b"\xff\xd8" else len(data)
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return 0, 0


def coco(items: Sequence[ExportItem]) -> dict[str, Any]:
    """A COCO detection data set; false alarms are images without boxes, flagged ``bk_verdict``."""
    categories = sorted({i.case_type for i in items})
    cat_id = {name: n for n, name in enumerate(categories, start=1)}
    images, annotations = [], []
    for n, item in enumerate(items, start=1):
        images.append(
            {
                "id": n,
                "file_name": item.file_name,
                "width": item.width,
                "height": item.height,
                "bk_case_id": item.case_id,
                "bk_verdict": item.verdict,
                "bk_case_type": item.case_type,
                "bk_camera_id": item.camera_id,
                "bk_model_version": item.model_version,
            }
        )
        if item.verdict != "confirmed" or len(item.box) != 4 or not item.width:
            continue
        x1, y1, x2, y2 = item.box
        bw, bh = (x2 - x1) * item.width, (y2 - y1) * item.height
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": n,
                "category_id": cat_id[item.case_type],
                "bbox": [round(x1 * item.width, 1), round(y1 * item.height, 1), round(bw, 1), round(bh, 1)],
                "area": round(bw * bh, 1),
                "iscrowd": 0,
            }
        )
    return {
        "info": {"description": "Bright Kitchen verdicts (confirmed and false alarms)"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name, "supercategory": "violation"} for name, i in cat_id.items()],
    }
