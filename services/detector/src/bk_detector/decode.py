"""JPEG bytes -> RGB array, strictly: a bad frame gets a clear error and never reaches the model."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"


class FrameError(ValueError):
    """This frame cannot be analysed; the message goes back to the gateway in FrameResult.error."""


# Start-of-frame markers whose frame nvJPEG decodes (baseline and extended sequential Huffman).
_SOF_SEQUENTIAL = frozenset({0xC0, 0xC1})
_SOF_ALL = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})


def check_jpeg(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[int, int, bool]:
    """Validate a JPEG without decoding it: (width, height, sequential) or FrameError saying why not.

    The same checks as ``decode_jpeg`` up to the pixels themselves: size, start and end markers,
    and the frame header's width x height, read by walking the marker segments (microseconds, no
    pixel work). ``sequential`` is True for baseline/extended frames, which the GPU decoder takes;
    progressive and lossless ones go through the CPU decoder instead.
    """
    if not data:
        raise FrameError("empty frame: 0 bytes")
    if len(data) > max_bytes:
        raise FrameError(f"too large: {len(data)} bytes > max {max_bytes}")
    if not data.startswith(JPEG_SOI):
        raise FrameError("not an image: no JPEG start-of-image marker")
    if JPEG_EOI not in data[-64:]:
        raise FrameError("truncated JPEG: no end-of-image marker")
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise FrameError(f"not an image: corrupt JPEG header at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _NO_LENGTH:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            raise FrameError(f"not an image: corrupt JPEG segment length at byte {i}")
        if marker in _SOF_ALL:
            if i + 9 > n:
                break
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            components = data[i + 9] if i + 9 < n else 0
            if width == 0 or height == 0:
                raise FrameError(f"not an image: zero size {width}x{height}")
            if width * height > max_pixels:
                raise FrameError(f"too many pixels: {width}x{height} > max {max_pixels}")
            if components not in (1, 3):
                raise FrameError(f"not an image: unsupported JPEG with {components} components")
            return width, height, marker in _SOF_SEQUENTIAL
        if marker in (0xDA, 0xD9):  # scan data or the end before any frame header
            break
        i += 2 + length
    raise FrameError("not an image: no JPEG frame header")


def decode_jpeg(
    data: bytes, *, max_bytes: int, max_pixels: int, at_least: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode one JPEG into an HxWx3 uint8 RGB array, or raise FrameError saying why not.

    ``at_least`` (width, height) lets libjpeg decode at 1/2, 1/4 or 1/8 scale while staying at least
    that large: a 1080p frame for a 320-pixel-wide model decodes several times faster.

    The pixel cap is ours, read from the frame header (``check_jpeg``) before Pillow sees the bytes,
    so a decompression bomb costs nothing. Nothing here touches the ``warnings`` filters: they are
    process-wide, and ``catch_warnings`` from several decoding threads at once restored each other's
    snapshots and left an "error" filter behind for the whole process.
    """
    width, height, _ = check_jpeg(data, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        img = Image.open(io.BytesIO(data), formats=["JPEG"])
        # Pillow's header reader and ours must agree; a frame that says more to Pillow is refused too.
        if img.width * img.height > max_pixels:
            raise FrameError(f"too many pixels: {img.width}x{img.height} > max {max_pixels}")
        if at_least is not None:
            img.draft("RGB", at_least)
        img.load()
        rgb = img.convert("RGB")
    except FrameError:
        raise
    except Image.DecompressionBombError:  # only when max_pixels is set above Pillow's own cap
        raise FrameError(f"too many pixels: {width}x{height} > Pillow's limit") from None
    except OSError as exc:
        text = str(exc)
        if "truncated" in text or "premature" in text.lower():
            raise FrameError(f"truncated JPEG: {text}") from None
        if "cannot identify" in text:  # PIL's message names an in-memory buffer: useless upstream
            text = "not a decodable JPEG"
        raise FrameError(f"not an image: {text}") from None
    except (ValueError, SyntaxError) as exc:  # PIL raises SyntaxError for some corrupt headers
        raise FrameError(f"not an image: {exc}") from None
    # A writable copy: torch.from_numpy warns on (and must not write into) read-only PIL buffers.
    arr = np.array(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FrameError(f"not an image: unexpected shape {arr.shape}")
    return arr
