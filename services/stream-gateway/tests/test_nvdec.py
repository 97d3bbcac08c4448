"""NVDEC hardware decoding (BK_VIDEO_DECODER=nvdec): refused by name where no GPU can decode, and on a
GPU the same frames as the CPU decoder.

The refusals run in a child process with ``CUDA_VISIBLE_DEVICES=""``, so they hold on a GPU machine too.
The decoding tests are marked ``gpu`` (deselected by the test command; CI has no GPU): on a GPU machine
``pytest --gpu -m gpu services/stream-gateway/tests/test_nvdec.py``. Without a GPU they fail, loudly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from bk_gateway.settings import GatewaySettings
from bk_gateway.sources.pyav import PyAVSource, check_nvdec
from bk_gateway.synth_video import write_kitchen_video
from bkcore.settings import SettingsError, load_settings

NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}

OPEN_ON_NVDEC = """
import sys
from bk_gateway.sources import SourceError
from bk_gateway.sources.pyav import PyAVSource

src = PyAVSource(sys.argv[1], keyframes_only=True, open_timeout_s=5, read_timeout_s=5, watchdog_s=5,
                 codecs=frozenset({"h264"}), decoder="nvdec")
try:
    src.open()
except SourceError as exc:
    print(exc.kind)
    print(exc.message)
else:
    print("opened")
"""


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(BK_DATA_DIR=str(tmp), BK_HTTP_PORT="0", **extra)
    return env


@pytest.fixture(scope="module")
def clip_1080p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of a kitchen at 1080p, 25 fps, a keyframe every second: 4 keyframes, 100 frames."""
    return write_kitchen_video(
        tmp_path_factory.mktemp("nvdec") / "k1080.mkv", seconds=4, fps=25, width=1920, height=1080, gop_s=1.0
    )


def test_an_unknown_decoder_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BK_VIDEO_DECODER", "vaapi")
    with pytest.raises(SettingsError, match="BK_VIDEO_DECODER"):
        load_settings(GatewaySettings)


def test_the_gateway_refuses_to_start_on_nvdec_without_a_gpu(tmp_path: Path) -> None:
    """The real entry point exits non-zero at start-up and says what to do, before any camera fails."""
    env = _env(tmp_path, BK_VIDEO_DECODER="nvdec", **NO_GPU)
    proc = subprocess.run(
        [sys.executable, "-m", "bk_gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "BK_VIDEO_DECODER=nvdec" in proc.stderr and "BK_VIDEO_DECODER=software" in proc.stderr, (
        proc.stderr[-2000:]
    )
    assert "nvidia.com/gpu" in proc.stderr


def test_a_camera_on_nvdec_without_a_gpu_gets_a_clear_error(tmp_path: Path) -> None:
    clip = write_kitchen_video(tmp_path / "k.mkv", seconds=1)
    proc = subprocess.run(
        [sys.executable, "-c", OPEN_ON_NVDEC, str(clip)],
        env=_env(tmp_path, **NO_GPU),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    kind, _, message = proc.stdout.partition("\n")
    assert kind == "decoder_unavailable", proc.stdout
    assert "BK_VIDEO_DECODER=software" in message


def _pull(clip: Path, *, keyframes_only: bool, decoder: str) -> tuple[str, list[float], list[np.ndarray]]:
    src = PyAVSource(
        str(clip),
        keyframes_only=keyframes_only,
        open_timeout_s=10,
        read_timeout_s=10,
        watchdog_s=30,
        codecs=frozenset({"h264"}),
        decoder=decoder,
    )
    src.open()
    try:
        frames = list(src.frames())
        return src.decoder, [f.time_s for f in frames], [f.rgb(640, 360) for f in frames]
    finally:
        src.close()


@pytest.mark.gpu
def test_nvdec_starts_on_a_gpu() -> None:
    check_nvdec()  # raises SourceError("decoder_unavailable") where it cannot


@pytest.mark.gpu
@pytest.mark.parametrize("keyframes_only", [True, False], ids=["keyframes", "every-frame"])
def test_nvdec_gives_the_frames_the_cpu_gives(clip_1080p: Path, keyframes_only: bool) -> None:
    """Same frames, same times, same pictures (H.264 decoding is exact; only the colour conversion of
    NV12 against planar YUV may differ by a rounding)."""
    gpu, gpu_times, gpu_rgb = _pull(clip_1080p, keyframes_only=keyframes_only, decoder="nvdec")
    cpu, cpu_times, cpu_rgb = _pull(clip_1080p, keyframes_only=keyframes_only, decoder="software")
    assert (gpu, cpu) == ("nvdec", "software")
    assert len(gpu_times) == (4 if keyframes_only else 100)
    assert gpu_times == cpu_times
    for a, b in zip(gpu_rgb, cpu_rgb, strict=True):
        assert a.shape == b.shape == (360, 640, 3)
        assert float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) < 2.0


@pytest.mark.gpu
def test_a_stream_nvdec_cannot_take_is_decoded_in_software_and_says_so(tmp_path: Path) -> None:
    """H.264 High 4:4:4, which NVDEC does not decode: FFmpeg hands it back to software at the first frame,
    the frames still come, and the source's decoder says software."""
    path = tmp_path / "k444.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv444p"
        stream.codec_context.gop_size = 5
        stream.codec_context.options = {"preset": "ultrafast", "bf": "0"}
        for i in range(20):
            img = np.full((180, 320, 3), i * 10, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    src = PyAVSource(
        str(path),
        keyframes_only=False,
        open_timeout_s=10,
        read_timeout_s=10,
        watchdog_s=30,
        codecs=frozenset({"h264"}),
        decoder="nvdec",
    )
    src.open()
    try:
        assert sum(1 for _ in src.frames()) == 20
        assert src.decoder == "software"
    finally:
        src.close()
