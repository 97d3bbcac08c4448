"""Pure export building: closed and corrected captures become a ``bk-verdicts`` set (bkcore.verdicts).

A confirmed case becomes labels in model terms, a false alarm a hard negative for exactly the class
it raised, a supervisor's corrections replace both; a capture that means nothing to the model is
listed as skipped, with the reason, never exported as an empty frame.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bk_cases.labels.rules import effective_labels
from bkcore.verdicts import IMAGES_DIR, Skipped, VerdictFormatError, VerdictRecord


@dataclass(frozen=True, slots=True)
class ExportItem:
    case_id: str
    tenant_id: str
    site_id: str
    camera_id: str
    case_type: str
    verdict: str  # confirmed | false_alarm | "" (open, but labelled by a supervisor)
    box: tuple[float, ...]  # normalised x1, y1, x2, y2 (may be empty)
    saved_labels: Mapping[str, Any] | None
    model_version: str
    image_ext: str
    width: int
    height: int


def file_name(case_id: str, ext: str) -> str:
    """Where a capture's snapshot lies in the export, relative to ``verdicts.json``."""
    return f"{IMAGES_DIR}/{case_id}.{ext or 'jpg'}"


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


def record_for(item: ExportItem) -> VerdictRecord | Skipped:
    """The training example of one capture, or why there is none."""
    if not item.width or not item.height:
        return Skipped(case_id=item.case_id, reason="snapshot is not a readable JPEG or PNG")
    try:
        eff = effective_labels(
            case_type=item.case_type, verdict=item.verdict, box=item.box, saved=item.saved_labels
        )
    except VerdictFormatError as exc:
        return Skipped(case_id=item.case_id, reason=f"stored labels unreadable: {exc}")
    if eff.labels is None:
        return Skipped(case_id=item.case_id, reason=f"{item.case_type!r} means nothing to the model")
    if not eff.labels.objects and not eff.labels.absent:
        return Skipped(case_id=item.case_id, reason="labelled with nothing")
    return VerdictRecord(
        case_id=item.case_id,
        tenant_id=item.tenant_id,
        site_id=item.site_id,
        camera_id=item.camera_id,
        case_type=item.case_type,
        verdict=item.verdict,  # type: ignore[arg-type]
        model_version=item.model_version,
        file_name=file_name(item.case_id, item.image_ext),
        width=item.width,
        height=item.height,
        labelled_by="supervisor" if eff.labelled_by == "supervisor" else "verdict",
        labels=eff.labels,
    )
