"""``brightkitchen detector detect``: pictures of any size and a CCTV clip in, annotated pictures
and exactly the documented JSON out; an unreadable file is reported and the others still done."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bk_detector.detections import Detection
from bk_detector.filedetect import dumps, frame_key, to_json
from bk_detector.training.realset import resolve
from brightkitchen.detector_cli import app

REAL = Path(__file__).parent / "data/real/images"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, object]:
    tmp = tmp_path_factory.mktemp("detect")
    # an odd-sized JPEG, a grey PNG (camera.png is 8-bit grey), an RGBA PNG and a broken "JPEG"
    Image.open(REAL / "astronaut.png").convert("RGB").resize((1001, 777)).save(tmp / "astronaut big.jpg")
    rgba = Image.open(REAL / "coffee.png").convert("RGBA")
    rgba.save(tmp / "coffee.png")
    (tmp / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    vtest = resolve()["vtest.avi"]
    args = [
        "detect",
        str(tmp / "astronaut big.jpg"),
        str(REAL / "camera.png"),
        str(tmp / "coffee.png"),
        str(tmp / "broken.jpg"),
        str(vtest),
        "--every",
        "400",
        "--out",
        str(tmp / "out"),
        "--json",
        str(tmp / "found.json"),
    ]
    result = CliRunner().invoke(app, args)
    assert (tmp / "found.json").is_file(), (result.output, result.exception)
    return tmp, json.loads((tmp / "found.json").read_text()), result


def test_json_has_exactly_the_documented_shape(run) -> None:  # type: ignore[no-untyped-def]
    _, found, _ = run
    assert set(found) == {
        "astronaut big.jpg",
        "camera.png",
        "coffee.png",
        "vtest.avi#000000",
        "vtest.avi#000400",
    }
    sizes = {
        "astronaut big.jpg": (1001, 777),
        "camera.png": (512, 512),
        "coffee.png": (600, 400),
        "vtest.avi#000000": (768, 576),
        "vtest.avi#000400": (768, 576),
    }
    for key, dets in found.items():
        w, h = sizes[key]
        for d in dets:
            assert set(d) == {"label", "box", "score", "attributes"}
            x, y, bw, bh = d["box"]
            assert 0 <= x <= w and 0 <= y <= h and 0 <= x + bw <= w + 0.1 and 0 <= y + bh <= h + 0.1
            assert 0 < d["score"] <= 1
            if d["label"] == "person":
                assert set(d["attributes"]) == {"chef_hat", "mask", "uniform", "gloves"}
            else:
                assert d["attributes"] == {}


def test_people_are_where_they_are_in_the_original_pixels(run) -> None:  # type: ignore[no-untyped-def]
    _, found, _ = run
    [astronaut] = [d for d in found["astronaut big.jpg"] if d["label"] == "person"]
    x, y, w, h = astronaut["box"]  # labelled at 512x512: [20, 12, 345, 500] -> scaled to 1001x777
    assert abs(x - 20 * 1001 / 512) < 40 and abs(x + w - 365 * 1001 / 512) < 60 and y + h > 700
    assert [d for d in found["camera.png"] if d["label"] == "person"]
    assert not [d for d in found["coffee.png"] if d["label"] == "person"]
    assert len([d for d in found["vtest.avi#000000"] if d["label"] == "person"]) >= 3


def test_annotated_pictures_and_the_unreadable_file(run) -> None:  # type: ignore[no-untyped-def]
    tmp, found, result = run
    assert result.exit_code == 1, result.output
    assert "broken.jpg" in result.output and "could not be read" in result.output
    out = tmp / "out"
    assert Image.open(out / "astronaut big.jpg.jpg").size == (1001, 777)
    assert Image.open(out / "vtest.avi_000400.jpg").size == (768, 576)
    assert len(list(out.iterdir())) == len(found)


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(app, ["detect", "--help"])
    assert result.exit_code == 0
    for word in ("--out", "--json", "--every", "--kind", "#<frame", "[x, y, w, h]"):
        assert word in result.output


def test_to_json_is_in_the_pictures_pixels() -> None:
    det = Detection("person", 0.87654, (0.25, 0.5, 0.75, 1.0), {"chef_hat": 0.91234})
    want = {
        "label": "person",
        "box": [50.0, 50.0, 100.0, 50.0],
        "score": 0.877,
        "attributes": {"chef_hat": 0.912},
    }
    assert to_json([det], 200, 100) == [want]
    assert frame_key("vtest.avi", 120) == "vtest.avi#000120" and frame_key("a.png") == "a.png"
    results = {"a.png": to_json([det], 200, 100), "b.png": []}
    assert json.loads(dumps(results)) == results and json.loads(dumps({})) == {}
    assert np.isclose(sum(to_json([det], 200, 100)[0]["box"]), 250.0)
