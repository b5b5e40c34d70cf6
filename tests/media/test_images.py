"""Image normalisation: formats, EXIF transpose, GPS stripped, limits, bombs, corrupt data."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time

import pytest
from PIL import Image

from core.errors import ImageError, ImageTooLargeError, UnsupportedImageFormatError
from core.media import images
from core.media.images import Header, ImageDecoder, ImageLimits, normalise_image, read_header


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_supported_formats_become_rgb(fmt: str) -> None:
    part = normalise_image(_encode(Image.new("RGB", (40, 30), (10, 200, 10)), fmt))
    decoded = Image.open(io.BytesIO(part.data))
    assert decoded.mode == "RGB" and (part.width, part.height) == (40, 30)
    assert part.mime in ("image/png", "image/jpeg")
    assert len(part.sha256) == 64


def test_gif_keeps_only_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    part = normalise_image(data)
    pixel = Image.open(io.BytesIO(part.data)).convert("RGB").getpixel((5, 5))
    assert pixel[0] > 200 and pixel[2] < 50


def test_exif_orientation_is_applied_and_gps_is_stripped() -> None:
    image = Image.new("RGB", (60, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0)}  # GPS IFD
    part = normalise_image(_encode(image, "JPEG", exif=exif.tobytes()))
    assert (part.width, part.height) == (20, 60)
    decoded = Image.open(io.BytesIO(part.data))
    assert not decoded.getexif() and "exif" not in decoded.info


def test_large_images_are_downscaled_to_the_pixel_budget() -> None:
    part = normalise_image(
        _encode(Image.new("RGB", (4000, 3000)), "PNG"), ImageLimits(target_pixels=1_000_000)
    )
    assert part.width * part.height <= 1_000_000
    assert abs(part.width / part.height - 4 / 3) < 0.01


def test_transparent_png_is_flattened_on_white() -> None:
    part = normalise_image(_encode(Image.new("RGBA", (10, 10), (0, 0, 0, 0)), "PNG"))
    assert Image.open(io.BytesIO(part.data)).getpixel((0, 0)) == (255, 255, 255)


def test_too_many_bytes_is_rejected() -> None:
    with pytest.raises(ImageTooLargeError):
        normalise_image(_encode(Image.new("RGB", (100, 100)), "PNG"), ImageLimits(max_bytes=100))


def test_too_many_pixels_is_rejected_before_decoding() -> None:
    data = _encode(Image.new("1", (8000, 6000)), "PNG")  # 48 MP, tiny file
    with pytest.raises(ImageTooLargeError, match="limit"):
        normalise_image(data)


def test_decompression_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        normalise_image(_encode(Image.new("RGB", (40, 40)), "PNG"))


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"%PDF-1.7 ..."])
def test_non_images_get_typed_errors(data: bytes) -> None:
    with pytest.raises(ImageError) as info:
        normalise_image(data)
    assert info.value.user_message_key.startswith("image_")


def test_truncated_jpeg_is_a_corrupt_image() -> None:
    data = _encode(Image.effect_noise((200, 200), 50).convert("RGB"), "JPEG")
    with pytest.raises(ImageError):
        normalise_image(data[: len(data) // 3])


def test_unsupported_format_is_refused() -> None:
    with pytest.raises(UnsupportedImageFormatError):
        normalise_image(_encode(Image.new("RGB", (10, 10)), "TIFF"))


def _big_png(width: int = 8000, height: int = 5000) -> bytes:
    """A 40 MP PNG that compresses to ~130 KB (stripes, like a screenshot)."""
    image = Image.new("RGB", (width, height), (200, 200, 200))
    for y in range(0, height, 50):
        image.paste((0, 0, 0), (0, y, width, y + 2))
    return _encode(image, "PNG")


def test_the_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    data = _encode(Image.new("L", (3000, 3000)), "PNG")
    header = read_header(data, ImageLimits())
    assert (header.width, header.height, header.format) == (3000, 3000, "PNG")
    with pytest.raises(ImageTooLargeError, match="px"):
        read_header(data, ImageLimits(max_pixels=8_999_999))


def test_a_jpeg_decodes_at_a_reduced_scale() -> None:
    header = Header("JPEG", "RGB", 8000, 5000)
    assert (
        header.decode_bytes(1_000_000)
        < Header("PNG", "RGB", 8000, 5000).decode_bytes(1_000_000) // 10
    )
    part = normalise_image(_encode(Image.new("RGB", (4000, 3000)), "JPEG"), ImageLimits())
    assert part.width * part.height <= ImageLimits().target_pixels


async def test_decoding_runs_off_the_event_loop_and_keeps_it_responsive() -> None:
    decoder = ImageDecoder(threads=1)
    data = _big_png()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    try:
        part = await decoder.normalise(data)
    finally:
        tick.cancel()
        decoder.close()
    assert part.width * part.height <= ImageLimits().target_pixels
    assert len(gaps) > 5 and max(gaps) < 0.25, max(gaps)  # the loop kept turning


async def test_decodes_wait_for_the_memory_budget_and_too_large_ones_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _big_png()
    needed = read_header(data, ImageLimits()).pixels * 3
    # Room for one such decode at a time, though two threads are free.
    decoder = ImageDecoder(threads=2, memory_bytes=needed * 2)
    running, most = 0, 0
    original = images._normalise

    def counting(*args: object) -> object:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return original(*args)  # type: ignore[arg-type]
        finally:
            running -= 1

    monkeypatch.setattr(images, "_normalise", counting)
    parts = await asyncio.gather(*(decoder.normalise(data) for _ in range(3)))
    assert len(parts) == 3 and most == 1
    small = ImageDecoder(threads=1, memory_bytes=needed // 2)
    with pytest.raises(ImageTooLargeError, match="ceiling"):
        await small.normalise(data)
    decoder.close()
    small.close()


def test_decoding_threads_yield_the_cpu_to_the_event_loop() -> None:
    decoder = ImageDecoder(threads=1)
    try:
        priority = decoder._pool.submit(
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        ).result()
    finally:
        decoder.close()
    assert priority >= images.DECODE_NICENESS
