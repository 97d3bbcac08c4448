"""Blur faces before a picture goes public (人脸打码).

Every picture a parent or the public can see — camera stills, the before/after photos of closed
cases, complaint photos once a case shows them — passes through ``publish_picture``: decoded under
the pixel cap (``bkcore.images``: a picture that claims more pixels than the cap is refused from its
header), made no larger than ``PUBLIC_MAX_SIDE``, searched by the real face detector (colour, grey
and infrared frames alike), and pixelated inside each face box grown a little. Nothing outside the
face boxes changes.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

from bk_public.faces import Face, FaceDetector, default_detector
from bkcore.images import open_capped

#: the long side of a published picture: enough for any phone screen, and a bound on the work
PUBLIC_MAX_SIDE = 1920


def blur_boxes(img: Image.Image, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """A copy of ``img`` with each box pixelated (about 6 blocks across, blocks of 4 px at least:
    a face of 10 px becomes a few grey squares) and softened."""
    out = img.copy()
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            continue
        block = max(4, min(w, h) // 6)
        region = out.crop((x1, y1, x2, y2))
        small = region.resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
        mosaic = small.resize((w, h), Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(block / 3))
        out.paste(mosaic, (x1, y1))
    return out


def blur_picture(img: Image.Image, detector: FaceDetector | None = None) -> tuple[Image.Image, list[Face]]:
    """``img`` (as RGB) with every face found blurred, and the faces."""
    det = detector or default_detector()
    rgb = img.convert("RGB")
    faces = det.detect(rgb)
    boxes = [f.grown(det.policy, rgb.width, rgb.height) for f in faces]
    return blur_boxes(rgb, boxes), faces


def publish_picture(data: bytes, *, quality: int = 85, detector: FaceDetector | None = None) -> bytes:
    """JPEG bytes of the picture as the public may see it. Raises ``bkcore.images.ImageRefused``
    for bytes that are not a picture, or claim more pixels than the cap."""
    img = open_capped(data, max_side=PUBLIC_MAX_SIDE)
    blurred, _ = blur_picture(img, detector)
    out = io.BytesIO()
    blurred.save(out, format="JPEG", quality=quality)
    return out.getvalue()
