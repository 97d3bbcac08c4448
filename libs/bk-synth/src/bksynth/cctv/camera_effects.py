"""What a cheap ceiling camera does to a picture: motion blur, steam and smoke, vignetting, soft focus,
auto-exposure and colour cast, infrared night mode lit by the camera's own LEDs, sensor noise, edge
sharpening, the burnt-in date/time and channel name (OSD), and H.264 at a CCTV bitrate through
PyAV/libx264 (a short GOP whose last, predicted frame is kept: noise smeared into blocks, fine texture
gone, as in a real recording)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bksynth.cctv.canvas import PARTS, Canvas
from bksynth.cctv.scene import Scene
from bksynth.effects import _noise_bank


@dataclass(frozen=True)
class Recording:
    """How this camera records, drawn per frame."""

    night: bool
    exposure_s: float
    brightness: float  # auto-exposure target: median level of the picture
    gain: float
    gamma: float
    tint: tuple[float, float, float]
    vignette: float
    defocus: float  # pixels
    noise: float  # sigma in 8-bit levels
    sharpen: int  # unsharp-mask percent, 0 = off
    osd: str  # the burnt-in timestamp
    channel: str
    osd_corner: str  # tl | tr
    kbps: int  # H.264 bitrate at 25 frames/s

    @classmethod
    def random(cls, rng: np.random.Generator, width: int, height: int, night: bool | None) -> Recording:
        night = bool(rng.random() < 0.15) if night is None else night
        when = datetime(2024, 1, 1) + timedelta(seconds=int(rng.integers(0, 2 * 365 * 86400)))
        style = int(rng.integers(3))
        osd = (
            when.strftime("%Y-%m-%d %a %H:%M:%S"),
            when.strftime("%m/%d/%Y %H:%M:%S"),
            when.strftime("%Y/%m/%d %H:%M:%S"),
        )[style]
        channel = str(rng.choice(["CAM", "CH", "IPC", "Kitchen-", "D"])) + f"{int(rng.integers(1, 33)):02d}"
        bpp = float(np.exp(rng.uniform(np.log(0.025), np.log(0.12))))  # bits per pixel per frame
        return cls(
            night=night,
            exposure_s=float(rng.choice([1 / 25, 1 / 30, 1 / 50, 1 / 100])) * (2.0 if night else 1.0),
            brightness=float(rng.uniform(85, 135) if not night else rng.uniform(70, 115)),
            gain=float(rng.uniform(0.9, 1.1)),
            gamma=float(rng.uniform(0.85, 1.15)),
            tint=(
                float(rng.uniform(0.9, 1.08)),
                float(rng.uniform(0.95, 1.08)),
                float(rng.uniform(0.85, 1.1)),
            ),
            vignette=float(rng.uniform(0.2, 1.2)),
            defocus=float(rng.choice([0.0, 0.4, 0.7, 1.0, 1.5])),
            noise=float(rng.uniform(1.5, 5.0) if not night else rng.uniform(5.0, 12.0)),
            sharpen=int(rng.choice([0, 0, 60, 120])),
            osd=osd,
            channel=channel,
            osd_corner=str(rng.choice(["tl", "tl", "tr"])),
            kbps=max(64, int(bpp * 25 * width * height / 1000)),
        )


def motion_blur(img: np.ndarray, canvas: Canvas, scene: Scene, exposure_s: float) -> None:
    """Smear each moving object along its motion over the exposure (in place)."""
    h, w = img.shape[:2]
    for obj in scene.objects:
        if not any(obj.velocity):
            continue
        c = np.asarray(obj.centre)
        px, z = scene.cam.project(np.stack([c, c + np.asarray(obj.velocity) * exposure_s]))
        if (z <= 0.1).any():
            continue
        dx, dy = px[1] - px[0]
        steps = int(np.ceil(max(abs(dx), abs(dy))))
        if steps < 2:
            continue
        mask = (canvas.ids // PARTS) == obj.oid
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        y0, y1 = max(0, ys.min() - steps - 1), min(h, ys.max() + steps + 2)
        x0, x1 = max(0, xs.min() - steps - 1), min(w, xs.max() + steps + 2)
        reg, m = img[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.float32)
        acc, macc = np.zeros_like(reg), np.zeros_like(m)
        for k in range(steps):
            sx, sy = round(dx * (k / steps - 0.5)), round(dy * (k / steps - 0.5))
            acc += np.roll(reg * m[..., None], (sy, sx), (0, 1))
            macc += np.roll(m, (sy, sx), (0, 1))
        alpha = macc / steps
        smeared = acc / np.maximum(macc, 1e-6)[..., None]
        img[y0:y1, x0:x1] = reg * (1 - alpha[..., None]) + smeared * alpha[..., None]


def vapour(img: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Steam over woks, pots and sinks, and the thin smoke of cigarettes: soft white veils (in place)."""
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    puffs: list[tuple[np.ndarray, float, float]] = []
    for x, y, z, strength in scene.steam:
        for k in range(int(4 + 6 * strength)):
            rise = 0.08 + 0.12 * k
            p = np.array([x + rng.normal(0, 0.05 + 0.03 * k), y + rng.normal(0, 0.05 + 0.03 * k), z + rise])
            puffs.append((p, 0.07 + 0.05 * k, strength * 0.5 / (1 + 0.3 * k)))
    for x, y, z in scene.smoke:
        for k in range(4):
            p = np.array([x + rng.normal(0, 0.02), y + rng.normal(0, 0.02), z + 0.04 + 0.05 * k])
            puffs.append((p, 0.02 + 0.015 * k, 0.5 / (1 + 0.6 * k)))
    for p, radius_m, strength in puffs:
        px, z = scene.cam.project(p[None, :])
        if z[0] <= 0.2:
            continue
        r = max(1.0, radius_m * scene.focal / z[0])
        cx, cy = px[0]
        x0, x1 = int(max(0, cx - 3 * r)), int(min(w, cx + 3 * r + 1))
        y0, y1 = int(max(0, cy - 3 * r)), int(min(h, cy + 3 * r + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        gx = np.exp(-((np.arange(x0, x1, dtype=np.float32) - cx) ** 2) / (2 * r * r))
        gy = np.exp(-((np.arange(y0, y1, dtype=np.float32) - cy) ** 2) / (2 * r * r))
        alpha[y0:y1, x0:x1] += strength * gy[:, None] * gx[None, :]  # a Gaussian is separable
    if puffs:
        a = np.clip(alpha, 0, 0.75)[..., None]
        img *= 1 - a
        img += a * 232.0


def develop(img: np.ndarray, canvas: Canvas, rec: Recording) -> np.ndarray:
    """Sensor response: auto-exposure, colour cast or infrared, vignetting; returns 0..255 float."""
    if rec.night:  # IR: the camera's LEDs light what is near, the lamps are off, colour is gone
        grey = img @ np.array([0.45, 0.4, 0.15], np.float32)
        depth = np.minimum(canvas.depth, 30.0)
        out = grey * np.clip(9.0 / (depth * depth + 2.0), 0.05, 2.5)
        out = np.repeat(out[..., None], 3, 2)
    else:
        out = img * np.asarray(rec.tint, np.float32)
    out *= (canvas.zscale**rec.vignette)[..., None]
    level = float(np.median(out[::4, ::4].mean(-1)))
    out *= rec.brightness / max(level, 1.0) * rec.gain
    out = 255.0 * np.clip(out / 255.0, 0, 1.6) ** rec.gamma
    knee = out > 200  # soft highlight roll-off: glare saturates like a real sensor, not a cartoon
    out[knee] = 200 + (out[knee] - 200) * 0.45
    return np.clip(out, 0, 255)


def lens_blur(img: np.ndarray, pixels: float) -> np.ndarray:
    if pixels <= 0:
        return img
    pil = Image.fromarray(img.astype(np.uint8))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(pixels)), np.float32)


def sensor_frame(
    base: np.ndarray, rec: Recording, rng: np.random.Generator, night: bool, osd: bool = True
) -> np.ndarray:
    """One exposure: fresh noise (luma and chroma), sharpening, then the OSD burnt in."""
    h, w = base.shape[:2]
    bank = _noise_bank()
    oy, ox = int(rng.integers(0, bank.shape[0] - h)), int(rng.integers(0, bank.shape[1] - w))
    noise = bank[oy : oy + h, ox : ox + w] * np.float32(rec.noise)
    # IR is grey; colour sensors make mostly luma noise and some chroma
    noise = np.repeat(noise[..., :1], 3, 2) if night else noise[..., :1] * 0.8 + noise * 0.35
    out = np.clip(base + noise, 0, 255).astype(np.uint8)
    pil = Image.fromarray(out)
    if rec.sharpen:
        pil = pil.filter(ImageFilter.UnsharpMask(radius=1.2, percent=rec.sharpen, threshold=2))
    if osd:
        burn_osd(pil, rec)
    return np.asarray(pil)


def burn_osd(pil: Image.Image, rec: Recording) -> None:
    w, h = pil.size
    size = max(9, round(h * 0.045))
    font = ImageFont.load_default(size=size)
    d = ImageDraw.Draw(pil)
    margin = max(3, int(h * 0.02))
    colour = (235, 235, 235)
    if rec.osd_corner == "tl":
        d.text((margin, margin), rec.osd, font=font, fill=colour, stroke_width=1, stroke_fill=(0, 0, 0))
    else:
        tw = d.textlength(rec.osd, font=font)
        d.text(
            (w - margin - tw, margin), rec.osd, font=font, fill=colour, stroke_width=1, stroke_fill=(0, 0, 0)
        )
    tw = d.textlength(rec.channel, font=font)
    d.text(
        (w - margin - tw, h - margin - size),
        rec.channel,
        font=font,
        fill=colour,
        stroke_width=1,
        stroke_fill=(0, 0, 0),
    )


def osd_box(width: int, height: int, rec: Recording) -> tuple[int, int, int, int]:
    """Where the timestamp is written (x0, y0, x1, y1): for tests and for anyone masking it out."""
    img = Image.new("L", (width, height))
    d = ImageDraw.Draw(img)
    size = max(9, round(height * 0.045))
    font = ImageFont.load_default(size=size)
    margin = max(3, int(height * 0.02))
    tw = d.textlength(rec.osd, font=font)
    x0 = margin if rec.osd_corner == "tl" else width - margin - tw
    return int(x0) - 1, margin - 1, int(x0 + tw) + 2, margin + size + 3


def h264_roundtrip(frames: list[np.ndarray], kbps: int) -> np.ndarray:
    """Encode frames as one short H.264 GOP (libx264, one thread: deterministic) and return the last
    decoded picture."""
    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    out = av.open(buf, "w", format="h264")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
    stream.bit_rate = kbps * 1000
    stream.codec_context.thread_count = 1
    stream.options = {
        "preset": "veryfast",
        "tune": "zerolatency",
        "x264-params": f"vbv-maxrate={kbps}:vbv-bufsize={max(kbps // 2, 32)}:threads=1:sliced-threads=0",
    }
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="rgb24")
        vf.pts = i
        for packet in stream.encode(vf):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    last = None
    with av.open(io.BytesIO(buf.getvalue()), "r", format="h264") as inp:
        for fr in inp.decode(video=0):
            last = fr.to_ndarray(format="rgb24")
    if last is None:
        raise RuntimeError("libx264 produced no decodable frame")
    if last.shape[:2] != (h, w):  # odd sizes: the encoder needs even sides; pad the last row/column back
        last = np.pad(last, ((0, h - last.shape[0]), (0, w - last.shape[1]), (0, 0)), mode="edge")
    return last
