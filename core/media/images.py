"""Normalise every image once, on arrival, within a pixel and memory budget.

The header is read first (Pillow's ``Image.open`` reads the size without decoding): an image
over ``max_pixels`` is refused before a single pixel is decoded. Then ``verify``, decode
(a JPEG at a reduced DCT scale with ``draft``; other formats reduced by an integer box
factor right after decoding, so the full-size picture is held once, briefly), EXIF
orientation, first frame only, RGB, downscale to the pixel budget and re-encode without
metadata (which drops GPS and every other EXIF tag). Everything that is not a small, real
JPEG/PNG/WebP/BMP/GIF raises a typed :class:`core.errors.ImageError`.

:class:`ImageDecoder` is the only way the servers decode: on its own threads (never the
event loop), at most ``threads`` at a time, and only while the decodes in flight fit in
``memory_bytes`` (each is estimated from its header). A 40 MP PNG that compresses to
155 KB costs ~160 MB while it decodes; without the gate six of them at once took a server
to 4.85 GB. Large decodes give their memory back to the OS afterwards (``malloc_trim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import io
import math
import os
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from core.errors import ImageError, ImageTooLargeError, UnsupportedImageFormatError
from core.media.decoding import DecoderPool
from core.model.turn import ImagePart

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"})
_BANDS = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "RGBA": 4, "CMYK": 4}
_TRIM_ABOVE_BYTES = 32 * 1024 * 1024  # decodes this large are handed back to the OS


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Limits applied to every incoming image.

    Attributes:
        max_bytes: Largest encoded file accepted.
        max_pixels: Largest decoded size accepted (width × height), read from the header
            before decoding.
        target_pixels: Pixel budget after normalisation; larger images are downscaled.
        jpeg_quality: Quality used when re-encoding photos.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    target_pixels: int = 1280 * 1280
    jpeg_quality: int = 90


@dataclass(frozen=True, slots=True)
class Header:
    """What an image's header says, before any pixel is decoded."""

    format: str
    mode: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def decode_bytes(self, target_pixels: int) -> int:
        """Estimated peak memory of decoding it: the decoded picture (a JPEG decodes at the
        smallest DCT scale still over the target) plus the reduced copy made from it."""
        pixels = self.pixels
        if self.format in ("JPEG", "MPO"):
            scale = 1
            while scale < 8 and pixels // ((scale * 2) ** 2) >= target_pixels:
                scale *= 2
            pixels //= scale * scale
        return pixels * _BANDS.get(self.mode, 4) * 5 // 4 + 4 * target_pixels


def read_header(data: bytes, limits: ImageLimits) -> Header:
    """The format and size of an encoded image, checked against the limits; decodes nothing.

    Raises:
        ImageError: empty or without pixels.
        ImageTooLargeError: over ``max_bytes`` or ``max_pixels``.
        UnsupportedImageFormatError: not an allowed format.
    """
    if not data:
        raise ImageError("empty image")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"image is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise UnsupportedImageFormatError("not a recognised image") from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt image: {exc}") from exc
    if probe.format not in ALLOWED_FORMATS:
        raise UnsupportedImageFormatError(f"image format {probe.format} is not supported")
    width, height = probe.size
    if width <= 0 or height <= 0:
        raise ImageError("image has no pixels")
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} px; the limit is {limits.max_pixels}"
        )
    return Header(str(probe.format), probe.mode, width, height)


def _decode_reduced(data: bytes, header: Header, target_pixels: int) -> Image.Image:
    """Decode the first frame at (about) the target size; the orientation tag is applied."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.open(io.BytesIO(data)).verify()  # reopened below: verify consumes the file
            image: Image.Image = Image.open(io.BytesIO(data))
            image.seek(0)  # GIF / MPO: first frame only
            orientation = image.getexif().get(0x0112, 1)
            if header.format in ("JPEG", "MPO") and isinstance(image, ImageFile.ImageFile):
                image.draft("RGB", _size_for(image.size, target_pixels))
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt image: {exc}") from exc
    factor = int(math.sqrt(image.width * image.height / target_pixels))
    if factor >= 2:
        full, image = image, image.reduce(factor)  # the full-size picture is dropped here
        full.close()
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.info["exif"] = exif.tobytes()
        image = ImageOps.exif_transpose(image) or image
    return image


def _size_for(size: tuple[int, int], target_pixels: int) -> tuple[int, int]:
    width, height = size
    if width * height <= target_pixels:
        return size
    scale = math.sqrt(target_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P", "PA") and (
        image.mode != "P" or "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _downscale(image: Image.Image, target_pixels: int) -> Image.Image:
    size = _size_for(image.size, target_pixels)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def normalise_image(data: bytes, limits: ImageLimits | None = None, caption: str = "") -> ImagePart:
    """Validate and normalise one encoded image (blocking: servers call
    :meth:`ImageDecoder.normalise`, which runs this on a decoding thread).

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
    header = read_header(data, limits)
    return _normalise(data, header, limits, caption)


def normalise_and_trim(data: bytes, limits: ImageLimits, caption: str = "") -> ImagePart:
    """:func:`normalise_image`, then large decodes' memory handed back to the OS (what a
    decoding process runs for each photo)."""
    header = read_header(data, limits)
    try:
        return _normalise(data, header, limits, caption)
    finally:
        if header.decode_bytes(limits.target_pixels) > _TRIM_ABOVE_BYTES:
            _trim_heap()


def _normalise(data: bytes, header: Header, limits: ImageLimits, caption: str) -> ImagePart:
    image = _decode_reduced(data, header, limits.target_pixels)
    rgb = _downscale(_to_rgb(image), limits.target_pixels)
    out = io.BytesIO()
    if header.format in ("PNG", "BMP", "GIF"):
        rgb.save(out, format="PNG", optimize=False)
        mime = "image/png"
    else:
        rgb.save(out, format="JPEG", quality=limits.jpeg_quality)
        mime = "image/jpeg"
    return ImagePart.from_normalised(out.getvalue(), mime, rgb.width, rgb.height, caption)


class _MemoryBudget:
    """Bytes that decodes in flight may hold together; a decode waits for its share."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, amount: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._free >= amount)
            self._free -= amount
        try:
            yield
        finally:
            with self._changed:
                self._free += amount
                self._changed.notify_all()


DECODE_NICENESS = 10


def _lower_priority() -> None:
    """Decoding threads yield the CPU to the event loop: on a busy machine the loop thread
    otherwise waits behind them (every ack late), though no call blocks it."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


def _trim_heap() -> None:
    """Give freed memory back to the OS (glibc keeps large freed blocks otherwise)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class ImageDecoder:
    """The process's image decoding: off the event loop, limited in number and memory.

    Args:
        threads: Decodes that run at once (each waited for on its own thread).
        memory_bytes: Estimated memory the decodes in flight may hold together; an image
            whose decode alone would need more is refused.
        processes: Decode in ``threads`` worker processes started now
            (:mod:`core.media.decoding`; what ``serve`` does) instead of on the threads
            themselves (tests, tools, anything that decodes a few photos).
    """

    def __init__(
        self, threads: int = 2, memory_bytes: int = 384 * 1024 * 1024, processes: bool = False
    ) -> None:
        self.threads = threads
        self.memory_bytes = memory_bytes
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="kefu-image", initializer=_lower_priority
        )
        self._budget = _MemoryBudget(memory_bytes)
        self.processes = DecoderPool(threads) if processes else None

    async def normalise(
        self, data: bytes, limits: ImageLimits | None = None, caption: str = ""
    ) -> ImagePart:
        """:func:`normalise_image` on a decoding thread, once the memory budget allows.

        Raises:
            ImageError, ImageTooLargeError, UnsupportedImageFormatError: as
                :func:`normalise_image`; ImageTooLargeError also when the decode alone would
                exceed the decoder's memory ceiling.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._normalise_within_budget, data, limits or ImageLimits(), caption
        )

    def _normalise_within_budget(self, data: bytes, limits: ImageLimits, caption: str) -> ImagePart:
        header = read_header(data, limits)
        needed = header.decode_bytes(limits.target_pixels)
        if needed > self.memory_bytes:
            raise ImageTooLargeError(
                f"decoding a {header.width}x{header.height} {header.mode} image needs about "
                f"{needed >> 20} MB; the ceiling is {self.memory_bytes >> 20} MB"
            )
        with self._budget.reserve(needed):
            if self.processes is not None:
                return self.processes.normalise(data, limits, caption)
            return normalise_and_trim(data, limits, caption)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.processes is not None:
            self.processes.close()
