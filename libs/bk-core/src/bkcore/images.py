"""Pictures people upload or publish: one rule for what is accepted (照片校验), used by every service.

A picture is trusted by its bytes, never by its declared type or file name. The checks run cheapest
first, and the pixel cap is read from the header before a single pixel is decoded: a 97 KB PNG that
says 10000×10000 would take gigabytes to decode and is refused from its first few hundred bytes.

- ``check_image``: the upload rule (size, type by magic number, pixel cap, a full decode that
  catches truncated and corrupt files). Raises ``ImageRefused`` naming the problem.
- ``open_capped``: the same checks, then the picture decoded no larger than ``max_side`` (JPEG is
  decoded at a reduced scale straight from the file), ready for processing such as face blurring.

Nothing here touches the ``warnings`` filters: they are process-wide, and ``catch_warnings`` from
several request threads at once restores the others' snapshots (the detector once kept an "error"
filter that way). Our cap is below Pillow's own bomb threshold, so Pillow's
``DecompressionBombWarning`` can only come with a picture we refuse anyway; above twice that,
Pillow's ``DecompressionBombError`` is refused by name too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

#: accepted format (Pillow's name) → content type and file extension
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
#: 50 megapixels: every phone's and camera's normal output (48 MP sensors save 12 or 24 MP by default),
#: and at most ~150 MB of RGB for one decode.
MAX_PIXELS = 50_000_000
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"))


class ImageRefused(ValueError):
    """A picture that is not accepted; ``kind`` is machine-readable, the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    format: str  # Pillow's name: JPEG, PNG, WEBP
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][0]

    @property
    def ext(self) -> str:
        return FORMATS[self.format][1]


def sniff(data: bytes) -> str | None:
    """The accepted format the bytes start like, or None."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _open_header(data: bytes, *, max_pixels: int) -> Image.Image:
    """Pillow's lazy open (header only), with the format and pixel cap checked; nothing decoded yet."""
    if not data:
        raise ImageRefused("empty", "the picture is empty")
    fmt = sniff(data)
    if fmt is None:
        raise ImageRefused("not_image", "not a picture (accepted: JPEG, PNG, WebP)")
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise ImageRefused("too_many_pixels", f"the picture has more than {max_pixels} pixels") from None
    except Exception:  # Pillow raises many types for a broken header; all mean "not a valid picture"
        raise ImageRefused("corrupt", f"the {fmt} header is corrupt") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageRefused("corrupt", f"the {fmt} header says {w}x{h} pixels")
    if w * h > max_pixels:
        raise ImageRefused(
            "too_many_pixels", f"the picture is {w}x{h} = {w * h} pixels; at most {max_pixels} are accepted"
        )
    return img


def _decode(img: Image.Image, *, at_least: tuple[int, int] | None) -> Image.Image:
    """Decode (first frame only); a JPEG at the smallest DCT scale (1/2, 1/4, 1/8) still at least
    ``at_least`` in size, so a 24 MP photo never exists in full in memory."""
    fmt = img.format
    try:
        if at_least is not None and fmt == "JPEG":
            img.draft("RGB", at_least)
        img.load()
    except Exception:  # truncated data, bad CRC, bad Huffman table...: Pillow raises many types
        raise ImageRefused("corrupt", f"the {fmt} picture is corrupt or truncated") from None
    return img


def check_image(data: bytes, *, max_bytes: int, max_pixels: int = MAX_PIXELS) -> CheckedImage:
    """The upload rule: at most ``max_bytes``, JPEG/PNG/WebP by its bytes, at most ``max_pixels``,
    and the whole picture decodes. Raises ``ImageRefused``."""
    if len(data) > max_bytes:
        raise ImageRefused("too_large", f"the picture is larger than {max_bytes} bytes")
    img = _open_header(data, max_pixels=max_pixels)
    w, h, fmt = img.width, img.height, str(img.format)
    # A JPEG decoded at 1/8 scale still reads every byte of it: truncation and corruption show,
    # for a sixty-fourth of the memory.
    _decode(img, at_least=(max(1, w // 8), max(1, h // 8)))
    return CheckedImage(data=data, format=fmt, width=w, height=h)


def open_capped(data: bytes, *, max_side: int, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """An RGB picture no larger than ``max_side`` on its long side, decoded under the pixel cap.
    Raises ``ImageRefused`` for anything ``check_image`` would refuse (size aside)."""
    img = _open_header(data, max_pixels=max_pixels)
    w, h = img.size
    f = min(1.0, max_side / max(w, h))
    img = _decode(img, at_least=(max(1, int(w * f)), max(1, int(h * f))))
    out = img.convert("RGB")
    if max(out.size) > max_side:
        out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return out
