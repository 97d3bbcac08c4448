"""Draw the evidence picture: every box with label and score, the violation in red, and a caption
with the violation, time and camera (画面可存储、问题可核实、信息可追溯).

Camera and zone names are often Chinese. Fonts with CJK glyphs frequently lack Latin ones (Droid
Sans Fallback), so text is drawn in runs: Latin with a Latin font, CJK with a CJK font if one is
installed (optional; without one CJK characters render as boxes, the rest stays legible).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bk_detector.detections import Box, Detection

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
CJK_START = 0x2E80  # CJK radicals onwards: everything a kitchen or camera name uses
VIOLATION_COLOUR = (230, 30, 30)
OTHER_COLOUR = (40, 160, 70)


@lru_cache(maxsize=16)
def _font(candidates: tuple[str, ...], size: int) -> Font | None:
    for path in candidates:
        if path and Path(path).is_file():
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return None


def _fonts(font_path: Path | None, size: int) -> tuple[Font, Font]:
    latin = _font(_LATIN_FONTS, size) or ImageFont.load_default(size=size)
    cjk = _font(((str(font_path),) if font_path else ()) + _CJK_FONTS, size) or latin
    return latin, cjk


def annotate(
    image: np.ndarray,
    detections: Sequence[Detection],
    *,
    violation: str,
    violation_box: Box,
    when: datetime,
    camera_id: str,
    zone: str = "",
    font_path: Path | None = None,
    quality: int = 85,
) -> bytes:
    """An annotated JPEG of ``image`` (HxWx3 RGB); ``when`` is shown as given (pass local time)."""
    img = Image.fromarray(image)
    w, h = img.size
    draw = ImageDraw.Draw(img)
    size = max(11, h // 36)
    fonts = _fonts(font_path, size)
    line = max(2, h // 240)

    def px(box: Box) -> tuple[int, int, int, int]:
        return (int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))

    for det in detections:
        x1, y1, x2, y2 = px(det.box)
        draw.rectangle((x1, y1, x2, y2), outline=OTHER_COLOUR, width=max(1, line // 2))
        tag = f"{det.label} {det.score:.2f}" + (f" #{det.track_id}" if det.track_id else "")
        _label(draw, (x1, max(y1 - size - 4, 0)), tag, fonts, OTHER_COLOUR)
    vx1, vy1, vx2, vy2 = px(violation_box)
    draw.rectangle((vx1, vy1, vx2, vy2), outline=VIOLATION_COLOUR, width=line)
    _label(draw, (vx1, min(vy2 + 3, h - size - 4)), violation, fonts, VIOLATION_COLOUR)
    caption = f"{violation}  {when:%Y-%m-%d %H:%M:%S %Z}  camera {camera_id}" + (f"  {zone}" if zone else "")
    _label(draw, (4, 4), caption, fonts, VIOLATION_COLOUR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _label(
    draw: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    text: str,
    fonts: tuple[Font, Font],
    colour: tuple[int, int, int],
) -> None:
    """White text on a filled box with its top-left at ``xy`` (legible on any background)."""
    x, y = xy
    runs = [
        ("".join(chars), fonts[is_cjk])
        for is_cjk, chars in itertools.groupby(text, key=lambda ch: ord(ch) >= CJK_START)
    ]
    widths = [draw.textlength(run, font=font) for run, font in runs]
    height = max(draw.textbbox((0, 0), run, font=font)[3] for run, font in runs) if runs else 0
    draw.rectangle((x, y, x + sum(widths) + 6, y + height + 4), fill=colour)
    cursor = x + 3
    for (run, font), width in zip(runs, widths, strict=True):
        draw.text((cursor, y + 2), run, font=font, fill=(255, 255, 255))
        cursor += width
