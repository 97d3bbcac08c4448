"""bkcore.images: pictures are judged by their bytes, the pixel cap holds before decoding (pure)."""

from __future__ import annotations

import contextlib
import io
import tracemalloc

import pytest
from PIL import Image

from bkcore.images import ImageRefused, check_image, open_capped
from bkcore.testing.pictures import png_bomb


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


PHOTO = Image.linear_gradient("L").resize((320, 200)).convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepts_the_three_formats_by_their_bytes(fmt: str) -> None:
    got = check_image(encode(PHOTO, fmt), max_bytes=10**6)
    assert (got.format, got.width, got.height) == (fmt, 320, 200)
    assert got.content_type == {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}[fmt]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00 a Windows program", "not_image"),
        (b"%PDF-1.7 not a photo", "not_image"),
        (b"GIF89a" + b"\x00" * 40, "not_image"),
        (b"\xff\xd8\xff\xe0fake-jpeg", "corrupt"),
        (encode(PHOTO, "JPEG")[:600], "corrupt"),  # truncated mid-scan
        (encode(PHOTO, "PNG")[:-40], "corrupt"),
    ],
)
def test_refuses_what_is_not_a_whole_picture(data: bytes, kind: str) -> None:
    with pytest.raises(ImageRefused) as refused:
        check_image(data, max_bytes=10**6)
    assert refused.value.kind == kind and refused.value.message


def test_size_limit_is_checked_first() -> None:
    with pytest.raises(ImageRefused) as refused:
        check_image(encode(PHOTO, "PNG"), max_bytes=100)
    assert refused.value.kind == "too_large" and "100 bytes" in refused.value.message


def test_a_tiny_file_with_a_huge_header_is_refused_before_decoding() -> None:
    bomb = png_bomb(10_000, 10_000)
    assert len(bomb) < 150_000  # the attack: ~100 KB on the wire, 100 megapixels inside
    tracemalloc.start()
    try:
        with pytest.raises(ImageRefused) as refused:
            check_image(bomb, max_bytes=10**7)
        with pytest.raises(ImageRefused):
            open_capped(bomb, max_side=1920)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.kind == "too_many_pixels" and "10000x10000" in refused.value.message
    assert peak < 5_000_000  # refused from the header: nothing near 100 MB was ever allocated


def test_pixel_cap_is_a_parameter() -> None:
    with pytest.raises(ImageRefused) as refused:
        check_image(encode(PHOTO, "PNG"), max_bytes=10**6, max_pixels=320 * 200 - 1)
    assert refused.value.kind == "too_many_pixels"
    assert check_image(encode(PHOTO, "PNG"), max_bytes=10**6, max_pixels=320 * 200).width == 320


def test_open_capped_decodes_big_jpegs_small() -> None:
    big = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    img = open_capped(encode(big, "JPEG", quality=80), max_side=1000)
    assert img.mode == "RGB" and max(img.size) == 1000 and img.size == (1000, 750)
    grey = open_capped(encode(PHOTO.convert("L"), "PNG"), max_side=1000)
    assert grey.mode == "RGB" and grey.size == (320, 200)  # small pictures keep their size


def test_checking_from_many_threads_leaves_the_warning_filters_alone() -> None:
    """The detector's old race: ``catch_warnings`` in several threads at once restored each other's
    snapshots and left a filter behind for the whole process. Checks here never touch the filters."""
    import threading
    import warnings

    from bkcore.images import MAX_PIXELS

    assert MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # Pillow's bomb warning only ever comes with a refusal
    before = list(warnings.filters)
    pictures = [encode(PHOTO, "JPEG"), encode(PHOTO, "PNG"), png_bomb(20_000, 20_000)]

    def check_many() -> None:
        for _ in range(30):
            for data in pictures:
                with contextlib.suppress(ImageRefused):
                    check_image(data, max_bytes=10**6)

    threads = [threading.Thread(target=check_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert warnings.filters == before
