"""Frozen (画面冻结) is a stream repeating one picture, not a quiet kitchen.

Encoded H.264 clips of a still, empty kitchen with sensor noise, day and IR night, go through the
gateway's own decoder, sampler and checks at the default thresholds: no frozen picture, no alarm. A
stream that repeats one picture (the same encoded frame resent, or one image fed to the encoder, with
or without an OSD clock ticking in the corner) raises the alarm. The simulated cameras, over a whole
loop of every demo scenario, never count as frozen or covered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from bk_gateway.health import ImageChecks, changed_share
from bk_gateway.sampler import Sampler, SamplingMode
from bk_gateway.settings import GatewaySettings
from bk_gateway.sources.frames import ArrayFrame
from bk_gateway.sources.pyav import PyAVSource
from bk_gateway.sources.sim import load_scenario
from bk_gateway.state import Alarm, AlarmTracker
from bksynth import Camera, demo_scenarios
from bksynth.effects import apply_camera
from bksynth.room import draw_room, random_room

FPS, GOP_S = 2, 2.0  # the checks see sampled frames only: 2 fps, all sampled, is enough
W, H = 640, 360
DEFAULTS = GatewaySettings(gateway_id="gw-0")
#: long enough for the default thresholds to raise a frozen alarm: repeated for frozen_after_s, then
#: frozen for frozen_alarm_s (both counted from the first repeat), with room to spare.
CLIP_S = max(DEFAULTS.frozen_after_s, DEFAULTS.frozen_alarm_s) + 10
#: a stuck sensor's encoder takes several GOPs (measured: 15-45 s) to settle into repeating its cycle.
STUCK_S = CLIP_S + 50

DAY = Camera(noise=2.5)
#: an IR camera at night: grey, low light, more noise.
NIGHT = Camera(gain=0.35, noise=8.0, night=True)
#: x264 rate controls: its default quality, a stingy one that copies still P-frames whole, and a
#: constant bitrate like most IP cameras.
RATES: dict[str, dict[str, str]] = {
    "crf23": {},
    "crf35": {"crf": "35"},
    "cbr300k": {"x264-params": "bitrate=300:vbv-maxrate=300:vbv-bufsize=300"},
}


def empty_kitchen(seed: int = 3) -> Image.Image:
    return draw_room(random_room(np.random.default_rng(seed)), W, H)


def noisy_still(camera: Camera, seconds: float) -> Iterator[np.ndarray]:
    """One empty kitchen seen by ``camera``: fresh sensor noise in every frame, nothing else moves.
    The lighting is applied once and the noise drawn per frame (grey at night: an IR sensor's noise
    has no colour)."""
    base = apply_camera(empty_kitchen(), replace(camera, noise=0.0), np.random.default_rng(0))
    rng = np.random.default_rng(0)
    channels = 1 if camera.night else 3
    for _ in range(int(seconds * FPS)):
        noise = rng.standard_normal((H, W, channels), dtype=np.float32) * np.float32(camera.noise)
        yield np.clip(base + noise, 0, 255).astype(np.uint8)


def encode(path: Path, frames: Iterator[np.ndarray], rate: dict[str, str]) -> Path:
    """H.264 like an IP camera: fixed GOP, no scene-cut keyframes, no B-frames."""
    gop = int(FPS * GOP_S)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = gop
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        if "x264-params" in rate:
            params += ":" + rate["x264-params"]
        stream.codec_context.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "bf": "0",
            **{k: v for k, v in rate.items() if k != "x264-params"},
            "x264-params": params,
        }
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def resent_picture(path: Path, image: np.ndarray, seconds: float, fps: int = FPS) -> Path:
    """A hung encoder or NVR: one encoded picture sent again and again, its timestamps advancing."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency", "bf": "0"}
        encoded = [bytes(p) for p in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24"))]
        encoded += [bytes(p) for p in stream.encode()]
        [picture] = encoded
        for i in range(int(seconds * fps)):
            packet = av.Packet(picture)
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, fps)
            packet.is_keyframe = True
            packet.stream = stream
            out.mux(packet)
    return path


def with_osd_clock(image: np.ndarray, seconds: float) -> Iterator[np.ndarray]:
    """A frozen sensor behind a camera that still burns its clock into the corner every second."""
    for i in range(int(seconds * FPS)):
        img = Image.fromarray(image)
        ImageDraw.Draw(img).text(
            (8, 8), f"2026-05-01 12:{i // FPS // 60:02d}:{i // FPS % 60:02d}", fill=(255, 255, 255)
        )
        yield np.asarray(img)


def watch(
    path: Path, *, keyframes_only: bool, seconds: float = CLIP_S, sample_fps: float = 2.0
) -> tuple[list[str], list[Alarm]]:
    """Run a clip through the gateway's decoder, sampler and image checks, on the stream's clock, at
    the default thresholds. Returns every problem the camera's health saw and every alarm raised."""
    s = DEFAULTS
    source = PyAVSource(
        str(path),
        keyframes_only=keyframes_only,
        open_timeout_s=5,
        read_timeout_s=5,
        watchdog_s=30,
        codecs=s.codecs,
    )
    checks = ImageChecks(
        changed_share=s.frozen_changed_share, frozen_after_s=s.frozen_after_s, covered_stddev=s.covered_stddev
    )
    sampler = Sampler(SamplingMode.KEYFRAMES if keyframes_only else SamplingMode.FPS, sample_fps)
    tracker = AlarmTracker({Alarm.FROZEN: s.frozen_alarm_s, Alarm.COVERED: s.covered_alarm_s})
    problems: list[str] = []
    raised: list[Alarm] = []
    source.open()
    try:
        for frame in source.frames():
            if not sampler.take(frame.time_s, frame.keyframe):
                continue
            checks.update(frame.probe(), frame.time_s)
            if (problem := checks.problem()) is not None:
                problems.append(problem)
            changes = tracker.update(
                frame.time_s, {Alarm.FROZEN: checks.frozen_since, Alarm.COVERED: checks.covered_since}
            )
            raised += [c.alarm for c in changes if c.active]
    finally:
        source.close()
    assert frame.time_s >= seconds - GOP_S, "the clip ended early: the test would prove nothing"
    return problems, raised


@pytest.mark.parametrize("rate", sorted(RATES))
@pytest.mark.parametrize("light", ["day", "night"])
def test_encoded_still_kitchen_is_not_frozen(tmp_path: Path, light: str, rate: str) -> None:
    camera = DAY if light == "day" else NIGHT
    clip = encode(tmp_path / "still.mkv", noisy_still(camera, CLIP_S), RATES[rate])
    for keyframes_only in (False, True):
        problems, raised = watch(clip, keyframes_only=keyframes_only)
        assert problems == [] and raised == [], f"keyframes_only={keyframes_only}"


def test_resent_picture_is_frozen(tmp_path: Path) -> None:
    [still] = noisy_still(DAY, 1 / FPS)
    clip = resent_picture(tmp_path / "resent.mkv", still, CLIP_S)
    for keyframes_only in (False, True):
        problems, raised = watch(clip, keyframes_only=keyframes_only)
        assert raised == [Alarm.FROZEN], f"keyframes_only={keyframes_only}"
        assert set(problems) == {"frozen image"}


@pytest.mark.parametrize("osd_clock", [False, True])
def test_one_image_fed_to_the_encoder_is_frozen(tmp_path: Path, osd_clock: bool) -> None:
    """A stuck sensor: the encoder keeps encoding one image. Its keyframes settle to the same picture
    within a few GOPs; an OSD clock changes too few pixels to count as a new picture."""
    [still] = noisy_still(DAY, 1 / FPS)
    frames = with_osd_clock(still, STUCK_S) if osd_clock else iter([still] * int(STUCK_S * FPS))
    clip = encode(tmp_path / "stuck.mkv", frames, RATES["crf23"])
    problems, raised = watch(clip, keyframes_only=False, seconds=STUCK_S)
    assert raised == [Alarm.FROZEN] and "frozen image" in problems


@pytest.mark.parametrize("scenario", [s.name for s in demo_scenarios(7)])
def test_simulated_cameras_never_freeze(scenario: str) -> None:
    """A whole loop of the scenario (and into the next: it repeats itself, noise included) at the
    default simulated frame rate and size: never frozen, never covered."""
    s = DEFAULTS
    render = load_scenario(scenario)
    period = next(sc.period for sc in demo_scenarios(7) if sc.name == scenario)
    checks = ImageChecks(
        changed_share=s.frozen_changed_share, frozen_after_s=s.frozen_after_s, covered_stddev=s.covered_stddev
    )
    shares, last = [], None
    for i in range(int((period + 2 * s.frozen_after_s) * s.sim_fps)):
        t = i / s.sim_fps
        probe = ArrayFrame(render(t, s.sim_width, s.sim_height), t).probe()
        checks.update(probe, t)
        assert checks.problem() is None, f"{checks.problem()} at t={t:.1f}s"
        if last is not None:
            shares.append(changed_share(probe, last))
        last = probe
    # Not one repeated pair, not only no frozen stretch: the sensor noise shows in every frame.
    assert min(shares) > 5 * s.frozen_changed_share
