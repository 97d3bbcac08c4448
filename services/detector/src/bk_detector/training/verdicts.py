"""The case-manager's verdict exports (``bk-verdicts``, ``bkcore.verdicts``) as training tensors.

A folder holding ``verdicts.json`` (or the zip the export endpoint returns) loads as a TensorSet whose
``Supervision`` says where each class is labelled: a labelled object's own box, a region where a
class is absent (a false alarm's hard negative), or a bag where an object is somewhere (a held
phone). A fixed share of the captures, chosen by a hash of the case id, is held out: the promotion
gate judges a candidate on them, and they are never trained on.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from bk_detector.training.data import MAX_BOXES, MAX_REGIONS, Supervision, TensorSet, load_images
from bkcore.verdicts import IMAGES_DIR, MANIFEST, CaptureLabels, VerdictFormatError, VerdictRecord, parse_set

Split = Literal["train", "heldout", "all"]
HOLDOUT = 0.25  # share of the captures the gate judges on (by case id: stable as the export grows)


def is_export(path: str | Path) -> bool:
    """A verdict export: a folder with ``verdicts.json``, or a zip of one."""
    p = Path(path)
    if p.is_dir():
        return (p / MANIFEST).is_file()
    return p.suffix == ".zip" and p.is_file()


def heldout(case_id: str, share: float = HOLDOUT) -> bool:
    """Whether a capture belongs to the held-out verdict set (same answer on every machine)."""
    return int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big") / 2**64 < share


def unpack(path: str | Path) -> Path:
    """The export's folder; a zip is extracted once beside itself (``<name>.d``), refusing any member
    that would land outside it."""
    p = Path(path)
    if p.is_dir():
        return p
    target = p.with_name(p.name + ".d")
    if (target / MANIFEST).is_file() and (target / MANIFEST).stat().st_mtime >= p.stat().st_mtime:
        return target
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=p.parent))
    try:
        with zipfile.ZipFile(p) as zf:
            for name in zf.namelist():
                dest = (tmp / name).resolve()
                if not dest.is_relative_to(tmp.resolve()):
                    raise VerdictFormatError(f"{p.name}: member {name!r} points outside the export")
            zf.extractall(tmp)
        if not (tmp / MANIFEST).is_file():
            raise VerdictFormatError(f"{p.name} holds no {MANIFEST}: not a verdict export")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass(frozen=True)
class VerdictData:
    """A loaded export: tensors plus the records they came from (same order)."""

    tensors: TensorSet
    records: list[VerdictRecord]


def load_verdicts(
    path: str | Path,
    labels: list[str],
    attributes: list[str],
    width: int,
    height: int,
    split: Split = "train",
    holdout: float = HOLDOUT,
) -> VerdictData:
    """The captures of one export resized to the model's input; ``split`` picks the training part,
    the held-out part, or all. A label the model does not have is an error that names it."""
    root = unpack(path)
    doc = parse_set((root / MANIFEST).read_bytes())
    records = [
        r for r in doc.records if split == "all" or heldout(r.case_id, holdout) == (split == "heldout")
    ]
    n = len(records)
    boxes = torch.zeros(n, MAX_BOXES, 4)
    labs = torch.full((n, MAX_BOXES), -1, dtype=torch.long)
    attrs = torch.full((n, MAX_BOXES, len(attributes)), -1.0)
    regions = torch.zeros(n, MAX_REGIONS, 4)
    region_labels = torch.full((n, MAX_REGIONS), -1, dtype=torch.long)
    kinds = torch.zeros(n, MAX_REGIONS, dtype=torch.long)
    # Only a supervisor's boxes are outlines; a verdict's box is the detector's own guess.
    box_known = torch.tensor([r.labelled_by == "supervisor" for r in records], dtype=torch.bool)[:, None]
    for i, rec in enumerate(records):
        located, areas = _items(rec.labels, rec.case_id, labels)
        if len(located) > MAX_BOXES or len(areas) > MAX_REGIONS:
            raise VerdictFormatError(
                f"case {rec.case_id}: more than {MAX_BOXES} objects or {MAX_REGIONS} labelled regions"
            )
        for j, (label, box, worn) in enumerate(located):
            boxes[i, j] = torch.tensor(box)
            labs[i, j] = label
            for k, name in enumerate(attributes):
                if name in worn:
                    attrs[i, j, k] = float(worn[name])
        for j, (label, box, kind) in enumerate(areas):
            regions[i, j] = torch.tensor(box)
            region_labels[i, j] = label
            kinds[i, j] = kind
    images = load_images([_image(root, r) for r in records], width, height)
    sup = Supervision(
        torch.zeros(n, dtype=torch.bool),
        regions,
        region_labels,
        kinds,
        box_known.expand(n, MAX_BOXES).clone(),
    )
    return VerdictData(TensorSet(images, boxes, labs, attrs, sup), records)


def _image(root: Path, rec: VerdictRecord) -> Path:
    path = root / rec.file_name
    if not path.is_file():
        raise VerdictFormatError(
            f"case {rec.case_id}: {rec.file_name} is missing from the export "
            f"(pictures live under {IMAGES_DIR}/ beside {MANIFEST})"
        )
    return path


def _items(
    labels: CaptureLabels, case_id: str, names: list[str]
) -> tuple[list[tuple[int, tuple[float, ...], dict[str, int]]], list[tuple[int, tuple[float, ...], int]]]:
    """(located objects, labelled regions with their ``Supervision`` kind) of one capture in model
    indices: a held object of unknown place is a bag, a class absent from a region an ABSENT one."""

    def index(label: str) -> int:
        if label not in names:
            raise VerdictFormatError(f"case {case_id}: the model has no class {label!r} (it has {names})")
        return names.index(label)

    located, areas = [], []
    for o in labels.objects:
        if o.located:
            located.append((index(o.label), tuple(o.box), dict(o.attributes)))
        else:
            areas.append((index(o.label), tuple(o.box), Supervision.BAG))
    areas += [(index(a.label), tuple(a.box), Supervision.ABSENT) for a in labels.absent]
    return located, areas
