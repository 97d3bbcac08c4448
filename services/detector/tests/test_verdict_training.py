"""Verdicts as training data: the export loads in model terms, the loss trains only what is labelled,
crops keep a verdict's labels whole, and the gate's rules and agreement scores are exact. No model
weights are loaded: tiny tensors and a folder written here."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from bk_detector.model.artifact import ATTRIBUTES, LABELS
from bk_detector.training.agreement import score_capture, summarise
from bk_detector.training.data import Supervision, TensorSet, concat
from bk_detector.training.evaluate import Box
from bk_detector.training.gate import HELDOUT, VERDICTS, GatePolicy, SetScore, format_table, judge
from bk_detector.training.targets import detection_loss
from bk_detector.training.train import _crop
from bk_detector.training.verdicts import heldout, is_export, load_verdicts, unpack
from bkcore.verdicts import (
    MANIFEST,
    AbsentRegion,
    CaptureLabels,
    LabelledObject,
    VerdictFormatError,
    VerdictRecord,
    VerdictSet,
    labels_for_verdict,
)

C, A = len(LABELS), len(ATTRIBUTES)
PERSON, PHONE, RODENT = LABELS.index("person"), LABELS.index("phone"), LABELS.index("rodent")


def _export(root: Path, records: list[tuple[str, CaptureLabels]]) -> Path:
    (root / "images").mkdir(parents=True)
    out = []
    for case_id, labels in records:
        Image.new("RGB", (64, 36), (90, 90, 90)).save(root / "images" / f"{case_id}.jpg")
        out.append(
            VerdictRecord(
                case_id=case_id,
                tenant_id="t",
                case_type="x",
                verdict="confirmed",
                file_name=f"images/{case_id}.jpg",
                width=64,
                height=36,
                labels=labels,
            )
        )
    (root / MANIFEST).write_text(VerdictSet(records=out).model_dump_json())
    return root


def test_an_export_loads_in_model_terms_and_holds_out_by_case_id(tmp_path: Path) -> None:
    hat = labels_for_verdict("no_chef_hat", "confirmed", (0.1, 0.1, 0.5, 0.9))
    phone = labels_for_verdict("phone_use", "confirmed", (0.5, 0.1, 0.9, 0.9))
    rodent = labels_for_verdict("rodent", "false_alarm", (0.0, 0.5, 0.3, 1.0))
    ids = [f"case-{i}" for i in range(40)]
    labels = [hat, phone, rodent]
    root = _export(tmp_path / "export", [(c, labels[i % 3]) for i, c in enumerate(ids)])  # type: ignore[misc]
    assert is_export(root)
    everything = load_verdicts(root, LABELS, ATTRIBUTES, 32, 32, split="all")
    t = everything.tensors
    assert t.images.shape == (40, 3, 32, 32) and t.supervision is not None and not t.supervision.full.any()
    n_hat, n_phone, n_rodent = 0, 1, 2
    assert t.labels[n_hat, 0] == PERSON and t.attributes[n_hat, 0].tolist() == [0.0, -1.0, -1.0, -1.0]
    assert t.labels[n_phone].tolist()[:2] == [PERSON, -1]  # the phone has no box of its own ...
    sup = t.supervision
    assert sup.region_labels[n_phone, 0] == PHONE and sup.kinds[n_phone, 0] == Supervision.BAG  # ... a bag
    assert (t.labels[n_rodent] == -1).all()  # a false alarm is no object ...
    assert (
        sup.region_labels[n_rodent, 0] == RODENT and sup.kinds[n_rodent, 0] == Supervision.ABSENT
    )  # ... a negative
    held = load_verdicts(root, LABELS, ATTRIBUTES, 32, 32, split="heldout").records
    train = load_verdicts(root, LABELS, ATTRIBUTES, 32, 32, split="train").records
    assert {r.case_id for r in held} == {c for c in ids if heldout(c)} and 0 < len(held) < 40
    assert {r.case_id for r in held} | {r.case_id for r in train} == set(ids)
    assert not {r.case_id for r in held} & {r.case_id for r in train}


def test_a_zip_unpacks_once_and_bad_exports_are_refused_by_name(tmp_path: Path) -> None:
    root = _export(
        tmp_path / "export", [("a", CaptureLabels(absent=[AbsentRegion(label="flame", box=(0, 0, 1, 1))]))]
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in root.rglob("*"):
            if f.is_file():
                zf.write(f, f.relative_to(root).as_posix())
    z = tmp_path / "verdicts.zip"
    z.write_bytes(buf.getvalue())
    assert is_export(z) and (unpack(z) / MANIFEST).is_file()
    assert len(load_verdicts(z, LABELS, ATTRIBUTES, 32, 32, split="all").records) == 1
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
        zf.writestr(MANIFEST, VerdictSet().model_dump_json())
    with pytest.raises(VerdictFormatError, match="outside the export"):
        unpack(evil)
    (root / "images" / "a.jpg").unlink()
    with pytest.raises(VerdictFormatError, match=r"images/a\.jpg is missing"):
        load_verdicts(root, LABELS, ATTRIBUTES, 32, 32, split="all")
    with pytest.raises(VerdictFormatError, match="no class 'flame'"):
        load_verdicts(z, ["person"], ATTRIBUTES, 32, 32, split="all")


def _partial(
    regions: list[tuple[int, tuple[float, ...], int]], n: int = 1, drawn: bool = False
) -> Supervision:
    """A verdict's supervision: ``drawn`` = its one object's box was drawn by a supervisor."""
    r = max(1, len(regions))
    sup = Supervision(
        torch.zeros(n, dtype=torch.bool),
        torch.zeros(n, r, 4),
        torch.full((n, r), -1),
        torch.zeros(n, r, dtype=torch.long),
        torch.full((n, 1), drawn),
    )
    for j, (label, box, kind) in enumerate(regions):
        sup.regions[0, j], sup.region_labels[0, j], sup.kinds[0, j] = torch.tensor(box), label, kind
    return sup


def _grad(
    sup: Supervision | None, boxes: torch.Tensor, labels: torch.Tensor, attrs: torch.Tensor
) -> torch.Tensor:
    torch.manual_seed(0)
    out = (torch.randn(1, C + 4 + A, 8, 16) * 2).requires_grad_()
    loss, _ = detection_loss(out, boxes, labels, attrs, C, supervision=sup)
    loss.backward()
    assert out.grad is not None
    return out.grad[0]


def test_the_loss_trains_only_what_a_verdict_labels() -> None:
    boxes, labels, attrs = torch.zeros(1, 1, 4), torch.full((1, 1), -1), torch.full((1, 1, A), -1.0)
    # A false alarm for a rodent in the lower left: only the rodent heatmap there learns anything.
    g = _grad(_partial([(RODENT, (0.0, 0.5, 0.5, 1.0), Supervision.ABSENT)]), boxes, labels, attrs)
    heat = g[:C].abs()
    assert heat[RODENT, 4:, :8].sum() > 0
    assert heat[RODENT, :4].sum() == 0 and heat[RODENT, :, 8:].sum() == 0  # not elsewhere in the frame
    assert torch.cat([heat[:RODENT], heat[RODENT + 1 :]]).sum() == 0  # never another class
    assert g[C:].abs().sum() == 0  # no box, no attribute
    # The same frame read as "nothing here" (the old export) would teach every class everywhere.
    g_blank = _grad(None, boxes, labels, attrs)
    assert (g_blank[:C].abs() > 0).all()


def test_a_labelled_person_teaches_its_centre_and_its_judged_attribute_only() -> None:
    boxes = torch.tensor([[[0.1, 0.0, 0.7, 1.0]]])
    labels = torch.tensor([[PERSON]])
    attrs = torch.tensor([[[0.0, -1.0, -1.0, -1.0]]])  # chef_hat judged absent, the rest unknown
    g = _grad(_partial([]), boxes, labels, attrs)
    person = g[PERSON].abs()
    assert person[3:5, 6:9].sum() > 0  # around its centre (cell 4, 6.4)
    assert person[:, 13:].sum() == 0 and person[:, :2].sum() == 0  # not beside it: someone may stand there
    assert torch.cat([g[:PERSON], g[PERSON + 1 : C]]).abs().sum() == 0
    attr = g[C + 4 :].abs().sum((1, 2))
    assert attr[0] > 0 and attr[1:].sum() == 0
    # Its box is the detector's own guess: where it stands is taught, not its size or outline ...
    assert g[C : C + 4].abs().sum() == 0
    # ... unless a supervisor drew it.
    assert _grad(_partial([], drawn=True), boxes, labels, attrs)[C : C + 4].abs().sum() > 0


def test_a_bag_pushes_its_best_cell_up_and_never_teaches_nothing_here() -> None:
    boxes, labels, attrs = torch.zeros(1, 1, 4), torch.full((1, 1), -1), torch.full((1, 1, A), -1.0)
    g = _grad(_partial([(PHONE, (0.5, 0.0, 1.0, 1.0), Supervision.BAG)]), boxes, labels, attrs)
    phone = g[PHONE]
    assert (phone[:, :8] == 0).all()  # outside the bag: nothing
    assert (phone[:, 8:] != 0).sum() == 1 and phone[:, 8:].sum() < 0  # one cell, pushed up (loss falls)


def test_crops_keep_a_verdicts_objects_whole_or_not_at_all() -> None:
    torch.manual_seed(1)
    n = 2
    images = torch.zeros(n, 3, 96, 160, dtype=torch.uint8)
    boxes = torch.zeros(n, 2, 4)
    boxes[:, 0] = torch.tensor([0.05, 0.05, 0.95, 0.95])  # a person filling the frame
    boxes[:, 1] = torch.tensor([0.6, 0.6, 0.7, 0.8])  # a small one
    labels = torch.tensor([[PERSON, PERSON], [PERSON, PERSON]])
    sup = Supervision(
        torch.tensor([True, False]),
        torch.zeros(n, 1, 4),
        torch.full((n, 1), -1),
        torch.zeros(n, 1, dtype=torch.long),
        torch.zeros(n, 2, dtype=torch.bool),
    )
    data = TensorSet(images, boxes, labels, torch.full((n, 2, A), -1.0), sup)
    for _ in range(10):
        crop = _crop(data, torch.tensor([0, 1]), 64, 32, torch.zeros(n, 2, dtype=torch.bool))
        assert crop.images.shape == (2, 3, 32, 64)
        assert crop.labels[1, 0] == -1  # the verdict's big person never fits: not trained, not denied
        if crop.labels[0, 0] != -1:  # the synthetic frame keeps the centred-box rule
            assert crop.boxes[0, 0].tolist() != boxes[0, 0].tolist()


def test_concat_of_synthetic_and_verdict_sets_marks_which_are_full() -> None:
    coco = TensorSet(
        torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
        torch.zeros(2, 1, 4),
        torch.full((2, 1), -1),
        torch.full((2, 1, A), -1.0),
    )
    part = TensorSet(
        torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
        torch.zeros(1, 1, 4),
        torch.full((1, 1), -1),
        torch.full((1, 1, A), -1.0),
        _partial([(RODENT, (0, 0, 1, 1), Supervision.ABSENT)] * 3),
    )
    both = concat([coco, part])
    assert both.supervision is not None and both.supervision.full.tolist() == [True, True, False]
    assert both.supervision.regions.shape == (3, 3, 4) and both.partial()


def test_agreement_scores_each_labelled_item() -> None:
    labels = CaptureLabels(
        objects=[
            LabelledObject(label="person", box=(0.1, 0.1, 0.5, 0.9), attributes={"chef_hat": 0}),
            LabelledObject(label="phone", box=(0.1, 0.1, 0.5, 0.9), located=False),
        ],
        absent=[AbsentRegion(label="rodent", box=(0.6, 0.6, 1.0, 1.0))],
    )
    preds = [
        Box("person", (0.1, 0.12, 0.5, 0.9), 0.8, {"chef_hat": 0.3}),
        Box("phone", (0.2, 0.4, 0.25, 0.45), 0.6),
        Box("rodent", (0.7, 0.7, 0.8, 0.8), 0.2),
    ]
    items = score_capture(preds, labels, {"person": 0.5, "phone": 0.5, "rodent": 0.4})
    by = {(i.kind, i.label): i for i in items}
    assert by[("object", "person")].score == pytest.approx(0.8) and by[("object", "person")].right
    assert by[("attribute", "person.chef_hat")].score == pytest.approx(0.7)  # P(not worn)
    assert by[("somewhere", "phone")].score == pytest.approx(0.6)
    assert by[("absent", "rodent")].score == pytest.approx(0.8) and by[("absent", "rodent")].right
    assert summarise(items)["agreement"] == pytest.approx((0.8 + 0.7 + 0.6 + 0.8) / 4)
    missed = score_capture([], labels, {})
    assert [i.score for i in missed] == [0.0, 0.0, 0.0, 1.0]  # not found: nothing said about the hat either


def test_the_gate_keeps_what_is_known_and_wants_a_gain_on_verdicts() -> None:
    good = [
        SetScore("synth-v1", HELDOUT, 64, 0.860, 0.852),
        SetScore("real", HELDOUT, 25, 0.40, 0.41),
        SetScore("verdicts", VERDICTS, 20, 0.79, 0.80),
    ]
    assert judge(good).passed
    worse = [SetScore("synth-v1", HELDOUT, 64, 0.860, 0.543), *good[1:]]
    d = judge(worse)
    assert not d.passed and d.reasons == ["synth-v1: loses 0.317 mAP (limit 0.010)"]
    table = format_table(d)
    assert "synth-v1" in table and "0.860" in table and "0.543" in table and "REFUSED" in table
    flat = [*good[:2], SetScore("verdicts", VERDICTS, 20, 0.79, 0.79)]
    assert judge(flat).reasons == ["verdicts: does not gain (+0.000)"]
    assert not judge(good[:2]).passed and "no verdict set" in judge(good[:2]).reasons[0]
    assert "no frozen held-out set" in judge(good[2:]).reasons[0]
    broken = [
        SetScore("real", HELDOUT, 0, math.nan, math.nan, "camera.png changed since the set was frozen"),
        *good,
    ]
    assert "real: cannot be judged (camera.png changed" in judge(broken).reasons[0]
    assert judge(worse, GatePolicy(max_map_loss=0.5)).passed


def test_distillation_is_zero_where_nothing_moved_and_grows_with_the_change() -> None:
    from bk_detector.training.targets import distillation_loss

    torch.manual_seed(0)
    teacher = torch.randn(2, C + 4 + A, 8, 16)
    assert abs(float(distillation_loss(teacher, teacher, C))) < 1e-4
    small = distillation_loss(teacher + 0.1, teacher, C)
    large = distillation_loss(teacher + 1.0, teacher, C)
    assert 0 < float(small) < float(large)
