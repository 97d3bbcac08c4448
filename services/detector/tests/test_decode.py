"""Strict frame decoding: every bad frame gets a clear reason, good frames decode to RGB."""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from bk_detector.batching import DynamicBatcher
from bk_detector.decode import FrameError, decode_jpeg
from bk_detector.evidence import EvidencePublisher
from bk_detector.pipeline import DetectionPipeline
from bk_detector.testing import FakeDetection, ScriptedModel
from bk_detector.testing import noise_jpeg as jpeg
from bkproto.detector.v1 import detector_pb2 as pb

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 1920 * 1080}


def test_good_jpeg_decodes_to_rgb() -> None:
    arr = decode_jpeg(jpeg(64, 48), **LIMITS)
    assert arr.shape == (48, 64, 3) and arr.dtype == np.uint8


def test_greyscale_jpeg_becomes_three_channels() -> None:
    assert decode_jpeg(jpeg(32, 16, mode="L"), **LIMITS).shape == (16, 32, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, I am not a picture", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not an image"),
        (b"\xff\xd8" + b"\x00garbage" * 20 + b"\xff\xd9", "not an image"),
        (jpeg(64, 48)[:300], "truncated JPEG"),
    ],
)
def test_bad_frames_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_jpeg(data, **LIMITS)
    assert str(err.value).startswith(reason)


def test_too_large_names_the_sizes() -> None:
    data = jpeg(64, 48)
    with pytest.raises(FrameError, match=rf"too large: {len(data)} bytes > max 100"):
        decode_jpeg(data, max_bytes=100, max_pixels=10**9)


def test_too_many_pixels_is_checked_before_decoding() -> None:
    # A flat 4000x3000 JPEG is tiny on the wire but 36 MB decoded: refused from the header alone.
    out = io.BytesIO()
    Image.new("L", (4000, 3000)).save(out, format="JPEG", quality=10)
    assert len(out.getvalue()) < 200_000
    with pytest.raises(FrameError, match=r"too many pixels: 4000x3000 > max 2073600"):
        decode_jpeg(out.getvalue(), max_bytes=10**9, max_pixels=1920 * 1080)


async def test_bad_frames_do_not_stall_the_batch(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel(lambda _img: [FakeDetection("rodent", 0.9, (0.1, 0.1, 0.2, 0.2))])
    batcher = DynamicBatcher(model, max_batch_size=8, max_wait_ms=5, max_queue=16)
    evidence = EvidencePublisher(store=None, bus=None, producer="t")  # type: ignore[arg-type]
    pipeline = DetectionPipeline(settings=settings, batcher=batcher, evidence=evidence, model_version="v")
    good = jpeg(64, 48)
    frames = [
        pb.Frame(frame_id="ok-1", tenant_id="t1", camera_id="c1", jpeg=good),
        pb.Frame(frame_id="empty", tenant_id="t1", camera_id="c1", jpeg=b""),
        pb.Frame(frame_id="text", tenant_id="t1", camera_id="c1", jpeg=b"not a jpeg"),
        pb.Frame(frame_id="cut", tenant_id="t1", camera_id="c1", jpeg=good[: len(good) // 2]),
        pb.Frame(frame_id="huge", tenant_id="t1", camera_id="c1", jpeg=b"\xff\xd8" + b"\0" * 300_000),
        pb.Frame(frame_id="no-tenant", camera_id="c1", jpeg=good),
        pb.Frame(frame_id="ok-2", tenant_id="t1", camera_id="c2", jpeg=good),
    ]
    await batcher.start()
    try:
        analysed = await pipeline.analyse(frames)
    finally:
        await batcher.stop()
    errors = {f.frame_id: a.error for f, a in zip(frames, analysed, strict=True)}
    assert errors["ok-1"] == errors["ok-2"] == ""
    assert errors["empty"].startswith("empty")
    assert errors["text"].startswith("not an image")
    assert errors["cut"].startswith("truncated JPEG")
    assert errors["huge"].startswith("too large: 300002 bytes > max 200000")
    assert "tenant_id" in errors["no-tenant"]
    assert [d.label for d in analysed[0].detections] == ["rodent"]
    assert model.batch_sizes == [2]  # only the two good frames reached the model, in one batch


def test_decoding_can_stop_at_the_models_input_size() -> None:
    data = jpeg(1280, 720)
    arr = decode_jpeg(data, **LIMITS, at_least=(320, 192))
    assert arr.shape == (360, 640, 3)  # libjpeg's 1/2 scale: 1/4 would be under 192 rows


def _with_header_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOF0) claiming ``width`` x ``height``: a bomb's header."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[sof + 9 :]


def test_concurrent_decodes_leave_the_process_warning_filters_alone() -> None:
    # The attack surface: every gateway stream decodes on a worker thread. The old decoder wrapped
    # Pillow in warnings.catch_warnings(), whose save/restore of the process-wide filter list races
    # between threads and left an "error" filter for DecompressionBombWarning behind.
    before = list(warnings.filters)
    frame = jpeg(320, 240)
    failures: list[BaseException] = []

    def decode_many() -> None:
        try:
            for _ in range(150):
                decode_jpeg(frame, **LIMITS)
        except BaseException as exc:  # surfaced below: a thread's error is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=decode_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures and not any(t.is_alive() for t in threads)
    assert list(warnings.filters) == before


def test_a_bomb_header_is_refused_by_the_explicit_pixel_cap() -> None:
    bomb = _with_header_size(jpeg(64, 48), 30000, 30000)  # 900 megapixels claimed in a few hundred bytes
    with pytest.raises(FrameError, match=r"too many pixels: 30000x30000 > max 2073600"):
        decode_jpeg(bomb, **LIMITS)


def test_a_cap_above_pillows_own_is_still_a_frame_error_and_no_warning() -> None:
    # A deployment that sets BK_MAX_PIXELS very high: Pillow's own guard then fires, and still
    # surfaces as a FrameError naming the size, without a warning filter being touched.
    bomb = _with_header_size(jpeg(64, 48), 30000, 30000)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(FrameError, match=r"too many pixels: 30000x30000"):
            decode_jpeg(bomb, max_bytes=1_000_000, max_pixels=10**9)
    assert not seen
