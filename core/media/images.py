"""Normalise every image once, on arrival.

Pillow ``verify`` first, then decode, EXIF transpose, first frame only, RGB, downscale to
a pixel budget and re-encode without metadata (which drops GPS and every other EXIF tag).
Everything that is not a small, real JPEG/PNG/WebP/BMP/GIF raises a typed
:class:`core.errors.ImageError` with a user-facing message key.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ImageError, ImageTooLargeError, UnsupportedImageFormatError
from core.model.turn import ImagePart

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"})


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Limits applied to every incoming image.

    Attributes:
        max_bytes: Largest encoded file accepted.
        max_pixels: Largest decoded size accepted (width × height), before downscaling.
        target_pixels: Pixel budget after normalisation; larger images are downscaled.
        jpeg_quality: Quality used when re-encoding photos.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    target_pixels: int = 1280 * 1280
    jpeg_quality: int = 90


def _check_header(data: bytes, limits: ImageLimits) -> Image.Image:
    if not data:
        raise ImageError("empty image")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"image is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        probe = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise UnsupportedImageFormatError("not a recognised image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"decompression bomb: {exc}") from exc
    if probe.format not in ALLOWED_FORMATS:
        raise UnsupportedImageFormatError(f"image format {probe.format} is not supported")
    width, height = probe.size
    if width <= 0 or height <= 0:
        raise ImageError("image has no pixels")
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} px; the limit is {limits.max_pixels}"
        )
    return probe


def _decode(data: bytes, limits: ImageLimits) -> Image.Image:
    # verify() consumes the file object, so the image is reopened afterwards to decode it.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            _check_header(data, limits)
            Image.open(io.BytesIO(data)).verify()
            image = Image.open(io.BytesIO(data))
            image.seek(0)  # GIF / MPO: first frame only
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt image: {exc}") from exc
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA", "P") and (image.mode != "P" or "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _downscale(image: Image.Image, target_pixels: int) -> Image.Image:
    width, height = image.size
    if width * height <= target_pixels:
        return image
    scale = math.sqrt(target_pixels / (width * height))
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def normalise_image(data: bytes, limits: ImageLimits | None = None, caption: str = "") -> ImagePart:
    """Validate and normalise one encoded image.

    Args:
        data: The encoded image as received.
        limits: Size and pixel limits; defaults to 20 MB / 40 MP / 1280² px budget.
        caption: Text the platform bound to this image.

    Returns:
        An :class:`ImagePart` holding RGB pixels re-encoded without metadata: PNG for
        lossless sources (screenshots stay sharp for OCR), JPEG for photos.

    Raises:
        ImageError: corrupt or empty data.
        ImageTooLargeError: over the byte or pixel limit, or a decompression bomb.
        UnsupportedImageFormatError: not JPEG, PNG, WebP, BMP or GIF.
    """
    limits = limits or ImageLimits()
    image = _decode(data, limits)
    source_format = image.format
    rgb = _downscale(_to_rgb(image), limits.target_pixels)
    out = io.BytesIO()
    if source_format in ("PNG", "BMP", "GIF"):
        rgb.save(out, format="PNG", optimize=False)
        mime = "image/png"
    else:
        rgb.save(out, format="JPEG", quality=limits.jpeg_quality)
        mime = "image/jpeg"
    return ImagePart.from_normalised(out.getvalue(), mime, rgb.width, rgb.height, caption)
