"""BlazeFace decoding, tiling and merging: the pure half of face detection (no model, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest

from bk_public.faces.geometry import (
    INPUT,
    Face,
    FacePolicy,
    anchors,
    decode,
    iou,
    merge,
    tile_plan,
    unflip,
)


def test_anchors_follow_mediapipe_order() -> None:
    a = anchors()
    assert a.shape == (896, 2)
    # stride 16: 16x16 cells, 2 anchors each, row by row; the two anchors of a cell share its centre
    assert a[0].tolist() == a[1].tolist() == [0.5 / 16, 0.5 / 16]
    assert a[2].tolist() == [1.5 / 16, 0.5 / 16]  # next cell to the right
    assert a[32].tolist() == [0.5 / 16, 1.5 / 16]  # first cell of the second row
    # stride 32: 8x8 cells, 6 anchors each, after the 512 of stride 16
    assert a[512].tolist() == a[517].tolist() == [0.5 / 8, 0.5 / 8]
    assert a[518].tolist() == [1.5 / 8, 0.5 / 8]
    assert a[-1].tolist() == [7.5 / 8, 7.5 / 8]


def test_decode_places_a_box_around_its_anchor() -> None:
    logits = np.full(896, -20.0, dtype=np.float32)
    raw = np.zeros((896, 16), dtype=np.float32)
    i = 2 * (16 * 5 + 3)  # the cell in row 5, column 3 of the stride-16 grid
    logits[i] = 3.0
    raw[i, :4] = [8.0, -4.0, 64.0, 32.0]  # centre offset (+8, -4) px, 64×32 px
    scores, boxes = decode(logits, raw)
    assert scores[i] == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert scores.max() == scores[i] and scores[0] < 1e-8
    cx, cy = 3.5 / 16 + 8 / INPUT, 5.5 / 16 - 4 / INPUT
    assert boxes[i].tolist() == pytest.approx(
        [cx - 32 / INPUT, cy - 16 / INPUT, cx + 32 / INPUT, cy + 16 / INPUT]
    )


def test_decode_refuses_the_wrong_number_of_anchors() -> None:
    with pytest.raises(ValueError, match="896 anchors"):
        decode(np.zeros(895), np.zeros((895, 16)))


def test_unflip_mirrors_boxes() -> None:
    boxes = np.array([[0.1, 0.2, 0.3, 0.6]])
    assert unflip(boxes)[0].tolist() == pytest.approx([0.7, 0.2, 0.9, 0.6])
    assert unflip(unflip(boxes))[0].tolist() == pytest.approx(boxes[0].tolist())


@pytest.mark.parametrize(("w", "h"), [(768, 576), (1280, 720), (548, 342), (200, 150), (1000, 1000)])
def test_tiles_hold_every_face_up_to_half_a_tile(w: int, h: int) -> None:
    plan = tile_plan(w, h, finest=192)
    assert plan[0].side == max(w, h) and (plan[0].x, plan[0].y) == (0, 0)
    sides = sorted({t.side for t in plan}, reverse=True)
    assert sides[-1] >= 192 or len(sides) == 1
    for side in sides[1:]:
        tiles = [t for t in plan if t.side == side]
        assert all(t.x >= 0 and t.x + side <= w and t.y >= 0 and t.y + side <= h for t in tiles)
        face = side // 2
        for fx in range(0, w - face + 1, 7):
            for fy in range(0, h - face + 1, 11):
                assert any(
                    t.x <= fx and fx + face <= t.x + side and t.y <= fy and fy + face <= t.y + side
                    for t in tiles
                ), (side, fx, fy)


def test_merge_averages_overlapping_boxes_by_score() -> None:
    a, b = Face(0.9, 0, 0, 10, 10), Face(0.6, 2, 0, 12, 10)
    far = Face(0.7, 50, 50, 60, 60)
    merged = merge([b, far, a], iou_threshold=0.3)
    assert len(merged) == 2
    top = merged[0]
    assert top.score == 0.9 and top.x1 == pytest.approx(0.8) and top.x2 == pytest.approx(10.8)
    assert [merged[1].x1, merged[1].y1, merged[1].x2, merged[1].y2] == pytest.approx([50, 50, 60, 60])
    assert iou(a, b) == pytest.approx(80 / 120)


def test_keep_rule_asks_more_of_large_boxes() -> None:
    p = FacePolicy()
    assert p.keeps(0.61, 40) and not p.keeps(0.59, 40)
    assert not p.keeps(0.75, 150) and p.keeps(0.85, 150)  # a cat's face fills the tile at 0.76


def test_grown_box_stays_inside_the_picture() -> None:
    p = FacePolicy(grow_side=0.5, grow_top=0.5, grow_bottom=0.5)
    assert Face(0.9, 10, 10, 30, 30).grown(p, 100, 100) == (0, 0, 40, 40)
    assert Face(0.9, 80, 80, 100, 100).grown(p, 100, 100) == (70, 70, 100, 100)
