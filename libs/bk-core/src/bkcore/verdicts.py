"""The verdict format (裁定标注): what supervisors said about a capture, in the model's own terms.

One owner for the format the case-manager exports and the detector's trainer reads (``bk-verdicts``,
version 1). An export is a folder (or zip) holding ``verdicts.json`` (a ``VerdictSet``) and the raw
snapshots under ``images/``; every ``file_name`` is relative to the folder that holds
``verdicts.json``. Boxes are normalised ``x1, y1, x2, y2`` (fractions of the frame), as everywhere
on the platform. ``python -m bkcore.verdicts`` prints the JSON schema.

A capture's labels say only what is known, never more:

- ``objects``: things that are there (``located`` = the box is the thing's own; not located = the
  thing is somewhere inside the box, e.g. the phone in a person's hand when only the person's box
  is known). A person's ``attributes`` name only what was judged (``chef_hat: 0`` = seen without a
  hat); the others stay unknown.
- ``absent``: hard negatives, one class at a time: "no ``label`` in this region". A false alarm is
  a negative for exactly the class it wrongly raised, never "nothing here": the rest of the frame
  and every other class stay unlabelled.

``labels_for_verdict`` turns a closed case (type, verdict, box) into such labels; a supervisor's
corrections in the console replace them. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT = "bk-verdicts"
VERSION = 1
MANIFEST = "verdicts.json"  # the file that makes a folder a verdict export
IMAGES_DIR = "images"

#: The detection concepts (检测类别) the platform's models report and labels may name.
OBJECT_LABELS: tuple[str, ...] = (
    "person",
    "phone",
    "cigarette",
    "rodent",
    "trash_bin_open",
    "trash_bin_closed",
    "flame",
)
#: Person attributes: 1 = worn / present, 0 = seen without it.
ATTRIBUTES: tuple[str, ...] = ("chef_hat", "mask", "uniform", "gloves")

Verdict = Literal["confirmed", "false_alarm", ""]  # "" = still open, labelled by a supervisor
Box = tuple[float, float, float, float]

# -- what a verdict on each violation type means in model terms ----------------------------------
#: Violations raised from a person attribute seen absent: the person, with that attribute judged.
ATTRIBUTE_VIOLATIONS: dict[str, str] = {
    "no_chef_hat": "chef_hat",
    "no_mask": "mask",
    "no_uniform": "uniform",
    "no_gloves": "gloves",
}
#: Violations whose box is the object itself.
OBJECT_VIOLATIONS: dict[str, str] = {
    "rodent": "rodent",
    "trash_bin_open": "trash_bin_open",
    "fire_unattended": "flame",
}
#: Violations about a held object whose box is its carrier's (the person, or the object when no one
#: holds it): the object is somewhere inside the box.
HELD_VIOLATIONS: dict[str, str] = {"phone_use": "phone", "smoking": "cigarette"}
#: Held violations raised only when a person holds the object: the box is that person's.
HELD_BY_PERSON: frozenset[str] = frozenset({"phone_use"})
#: A confirmed object excludes these classes in its own box (one bin is open or closed, not both).
EXCLUDES: dict[str, tuple[str, ...]] = {"trash_bin_open": ("trash_bin_closed",)}


class VerdictFormatError(ValueError):
    """Labels or an export that do not follow the format; the message names the field."""


def _check_box(box: Box) -> Box:
    if len(box) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
        raise ValueError("a box is four finite numbers x1, y1, x2, y2")
    # Six decimals (a 25th of a pixel on a 4K frame): float32 noise from the wire does not travel.
    x1, y1, x2, y2 = (round(float(v), 6) for v in box)
    if not (0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0):
        raise ValueError(f"box {[x1, y1, x2, y2]} is not x1 < x2, y1 < y2 inside the frame (fractions 0..1)")
    return (x1, y1, x2, y2)


def _check_label(label: str) -> str:
    if label not in OBJECT_LABELS:
        raise ValueError(f"unknown label {label!r} (known: {', '.join(OBJECT_LABELS)})")
    return label


class LabelledObject(BaseModel):
    """Something that is in the picture."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(description="one of OBJECT_LABELS")
    box: Box = Field(description="normalised x1, y1, x2, y2")
    located: bool = Field(True, description="False: the object is somewhere inside box, not box itself")
    attributes: dict[str, int] = Field(
        default_factory=dict, description="person only: attribute -> 1 worn / 0 not worn; absent = unknown"
    )

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        return _check_label(v)

    @field_validator("box")
    @classmethod
    def _box(cls, v: Box) -> Box:
        return _check_box(v)

    @model_validator(mode="after")
    def _attributes(self) -> LabelledObject:
        if self.attributes and self.label != "person":
            raise ValueError(f"attributes belong to persons, not to {self.label!r}")
        for name, value in self.attributes.items():
            if name not in ATTRIBUTES:
                raise ValueError(f"unknown attribute {name!r} (known: {', '.join(ATTRIBUTES)})")
            if value not in (0, 1):
                raise ValueError(f"attribute {name!r} is 1 (worn) or 0 (not worn), not {value!r}")
        if self.attributes and not self.located:
            raise ValueError("attributes need the person's own box (located)")
        return self


class AbsentRegion(BaseModel):
    """A hard negative: no ``label`` anywhere in ``box``; says nothing about other classes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(description="one of OBJECT_LABELS")
    box: Box = Field(description="normalised x1, y1, x2, y2")

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        return _check_label(v)

    @field_validator("box")
    @classmethod
    def _box(cls, v: Box) -> Box:
        return _check_box(v)


MAX_ITEMS = 32  # objects (and absent regions) per capture: more is a mistake, not a kitchen


class CaptureLabels(BaseModel):
    """Everything known about one capture; what is not named is unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    objects: list[LabelledObject] = Field(default_factory=list, max_length=MAX_ITEMS)
    absent: list[AbsentRegion] = Field(default_factory=list, max_length=MAX_ITEMS)
    not_violation: bool = Field(
        False, description="the supervisor's word: the raised violation did not happen"
    )


class VerdictRecord(BaseModel):
    """One capture of one case: its snapshot, the verdict and the labels it stands for."""

    model_config = ConfigDict(extra="forbid")
    case_id: str
    tenant_id: str
    site_id: str = ""
    camera_id: str = ""
    case_type: str
    verdict: Verdict
    model_version: str = ""
    file_name: str = Field(description="relative to the folder holding verdicts.json, e.g. images/<case>.jpg")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    labelled_by: Literal["verdict", "supervisor"] = "verdict"
    labels: CaptureLabels

    @field_validator("file_name")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v or v.startswith(("/", "\\")) or ".." in v.replace("\\", "/").split("/"):
            raise ValueError(f"file_name {v!r} must be a relative path inside the export")
        return v


class Skipped(BaseModel):
    case_id: str
    reason: str


class VerdictSet(BaseModel):
    """The whole export (``verdicts.json``)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["bk-verdicts"] = FORMAT
    version: Literal[1] = VERSION
    labels: list[str] = Field(default_factory=lambda: list(OBJECT_LABELS))
    attributes: list[str] = Field(default_factory=lambda: list(ATTRIBUTES))
    records: list[VerdictRecord] = Field(default_factory=list)
    skipped: list[Skipped] = Field(
        default_factory=list, description="closed cases that are no example, and why"
    )


def parse_labels(data: object) -> CaptureLabels:
    """Labels from JSON-like data; VerdictFormatError names the first bad field."""
    try:
        return CaptureLabels.model_validate(data)
    except ValueError as exc:
        raise VerdictFormatError(_first_error(exc)) from None


def parse_set(text: str | bytes) -> VerdictSet:
    """A ``verdicts.json``; VerdictFormatError says what is wrong (e.g. a COCO file given instead)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise VerdictFormatError(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise VerdictFormatError(
            f"{MANIFEST} is not a {FORMAT} export (format={doc.get('format')!r})"
            if isinstance(doc, dict)
            else f"{MANIFEST} is not a {FORMAT} export"
        )
    try:
        return VerdictSet.model_validate(doc)
    except ValueError as exc:
        raise VerdictFormatError(_first_error(exc)) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}".removeprefix(": ")
    return str(exc)


def labels_for_verdict(case_type: str, verdict: str, box: Box | tuple[float, ...]) -> CaptureLabels | None:
    """What a supervisor's verdict on a detection case means in model terms; None when it can mean
    nothing to the model (a type no model class stands for, e.g. ``stranger``, or no box).

    confirmed ``no_chef_hat``: a person (the case's box) with ``chef_hat = 0``; false alarm: the same
    person with ``chef_hat = 1``. confirmed ``rodent``: a rodent in the box; false alarm: no rodent
    there. confirmed ``phone_use``: the person, and a phone somewhere in their box; false alarm: no
    phone in that box. Everything else in the frame stays unlabelled.
    """
    if verdict not in ("confirmed", "false_alarm") or len(box) != 4:
        return None
    try:
        b = _check_box(tuple(box))  # type: ignore[arg-type]
    except ValueError:
        return None
    confirmed = verdict == "confirmed"
    if case_type in ATTRIBUTE_VIOLATIONS:
        worn = 0 if confirmed else 1
        return CaptureLabels(
            objects=[
                LabelledObject(label="person", box=b, attributes={ATTRIBUTE_VIOLATIONS[case_type]: worn})
            ]
        )
    if case_type in OBJECT_VIOLATIONS:
        label = OBJECT_VIOLATIONS[case_type]
        if not confirmed:
            return CaptureLabels(absent=[AbsentRegion(label=label, box=b)])
        return CaptureLabels(
            objects=[LabelledObject(label=label, box=b)],
            absent=[AbsentRegion(label=x, box=b) for x in EXCLUDES.get(label, ())],
        )
    if case_type in HELD_VIOLATIONS:
        label = HELD_VIOLATIONS[case_type]
        if not confirmed:
            return CaptureLabels(absent=[AbsentRegion(label=label, box=b)])
        held = LabelledObject(label=label, box=b, located=False)
        if case_type in HELD_BY_PERSON:
            return CaptureLabels(objects=[LabelledObject(label="person", box=b), held])
        return CaptureLabels(objects=[held])
    return None


def not_a_violation(case_type: str, box: Box | tuple[float, ...]) -> CaptureLabels | None:
    """The labels of "not a violation" on a capture: the false-alarm meaning, flagged as the
    supervisor's word."""
    labels = labels_for_verdict(case_type, "false_alarm", box)
    return labels.model_copy(update={"not_violation": True}) if labels is not None else None


def labelled_types() -> frozenset[str]:
    """Violation types a verdict can be turned into labels for."""
    return frozenset(ATTRIBUTE_VIOLATIONS) | frozenset(OBJECT_VIOLATIONS) | frozenset(HELD_VIOLATIONS)


if __name__ == "__main__":
    print(json.dumps(VerdictSet.model_json_schema(), indent=2))
