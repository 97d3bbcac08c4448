"""Pictures for tests of the upload rule: a real small photo-like JPEG, and the decompression bomb."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def jpeg(size: tuple[int, int] = (64, 48), quality: int = 85) -> bytes:
    """A real (decodable) JPEG: a grey gradient."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A valid 1-bit PNG of ``width``×``height`` white pixels: ~100 KB that decodes to gigabytes
    (the red-team's 97 KB 10000×10000 photo)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    idat = zlib.compress(row * height, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
