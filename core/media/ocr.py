"""Read the text in customers' photos with RapidOCR, for models that cannot see images.

:class:`OcrReader` wraps ``rapidocr_onnxruntime.RapidOCR`` (PP-OCRv4 ONNX models shipped in
the wheel; Chinese and English). The model loads lazily, once, and every run happens on one
dedicated worker thread, so the event loop never blocks and two cores are not oversubscribed.
Results are cached by the image's sha256, so a photo that stays in the conversation history
is read once.

RapidOCR drops the spaces between English words ("OrderNo.：SO2026…") and keeps full-width
punctuation; :func:`normalise_ocr_text` and :func:`matching_key` make such text comparable
with order numbers, SKUs and prices.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from core.errors import EngineError, ImageError, ModelLoadError
from core.model.turn import ImagePart

Point = tuple[float, float]
# A loaded OCR engine: BGR ndarray -> RapidOCR's (result, elapsed) pair.
OcrEngineFn = Callable[[np.ndarray], tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One detected text box.

    Attributes:
        text: The recognised text, as RapidOCR returned it (not normalised).
        confidence: Recognition score in [0, 1].
        box: Four corner points (x, y) in image pixels, clockwise from top-left.
    """

    text: str
    confidence: float
    box: tuple[Point, Point, Point, Point]

    @property
    def top(self) -> float:
        return min(y for _, y in self.box)

    @property
    def bottom(self) -> float:
        return max(y for _, y in self.box)

    @property
    def left(self) -> float:
        return min(x for x, _ in self.box)


@dataclass(frozen=True, slots=True)
class OcrResult:
    """The text read from one image.

    Attributes:
        text: All lines in reading order; boxes on one visual row are joined by a space,
            rows by newlines. Empty when nothing readable was found.
        lines: The boxes, in the same reading order.
        sha256: Hash of the image that was read (the cache key).
        elapsed_s: Seconds the OCR run took (a cache hit returns the original result).
    """

    text: str
    lines: tuple[OcrLine, ...]
    sha256: str
    elapsed_s: float = 0.0

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()

    @property
    def mean_confidence(self) -> float:
        """Mean recognition score of the lines; 0 when there are none."""
        if not self.lines:
            return 0.0
        return sum(line.confidence for line in self.lines) / len(self.lines)


@dataclass(slots=True)
class OcrStats:
    """Counters for tests and metrics: real OCR runs and cache hits."""

    runs: int = 0
    cache_hits: int = 0


# ---------------------------------------------------------------------------------------
# Text normalisation


_DASHES = re.compile(r"[\u2010-\u2015\u2212\uFE58\uFE63]")  # hyphen, en/em dash, minus, ...
_SPACES = re.compile(r"[^\S\n]+")


def normalise_ocr_text(text: str) -> str:
    """Make OCR text comparable: NFKC, unified dashes, collapsed spaces.

    NFKC turns full-width forms into ASCII (``：`` → ``:``, ``＃`` → ``#``, ``０`` → ``0``,
    ``￥`` → ``¥``, the ideographic space → space). Dash look-alikes become ``-``. Runs of
    spaces collapse to one; line breaks are kept. Chinese text is otherwise unchanged.

    Args:
        text: Raw OCR (or customer) text.

    Returns:
        The normalised text, stripped at both ends of every line.
    """
    folded = unicodedata.normalize("NFKC", text)
    folded = _DASHES.sub("-", folded)
    lines = (_SPACES.sub(" ", line).strip() for line in folded.splitlines())
    return "\n".join(lines).strip()


def matching_key(text: str) -> str:
    """A key for comparing codes across OCR and typed text: normalised, no spaces, upper case.

    ``"Order No.: so2026 1102-0042"`` and ``"OrderNo.：SO20261102-0042"`` give the same key.
    """
    return re.sub(r"\s+", "", normalise_ocr_text(text)).upper()


def find_codes(text: str, pattern: str | re.Pattern[str]) -> tuple[str, ...]:
    """Find codes (order numbers, SKUs) in OCR text, tolerant of OCR spacing and width.

    The pattern is matched against :func:`matching_key` of each line, so write it for
    upper-case text without spaces, e.g. ``r"SO\\d{8}-\\d{4}"``.

    Returns:
        Distinct matches in order of appearance.
    """
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    found: dict[str, None] = {}
    for line in text.splitlines():
        for match in compiled.finditer(matching_key(line)):
            found.setdefault(match.group(0), None)
    return tuple(found)


# ---------------------------------------------------------------------------------------
# Reading order


def _same_row(line: OcrLine, row: list[OcrLine]) -> bool:
    # Boxes share a row when they overlap vertically by at least half the shorter height.
    top = min(item.top for item in row)
    bottom = max(item.bottom for item in row)
    overlap = min(bottom, line.bottom) - max(top, line.top)
    shorter = max(1e-6, min(bottom - top, line.bottom - line.top))
    return overlap / shorter >= 0.5


def reading_order(lines: Sequence[OcrLine]) -> tuple[tuple[OcrLine, ...], ...]:
    """Group boxes into visual rows, top to bottom, each row left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: (item.top, item.left)):
        if rows and _same_row(line, rows[-1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    return tuple(tuple(sorted(row, key=lambda item: item.left)) for row in rows)


def _to_lines(raw: Any) -> list[OcrLine]:
    lines: list[OcrLine] = []
    for entry in raw or ():
        box, text, score = entry[0], entry[1], entry[2]
        corners = tuple((float(x), float(y)) for x, y in box)
        if len(corners) != 4:
            raise EngineError(f"OCR returned a box with {len(corners)} corners", code="ocr_failed")
        text = str(text).strip()
        if text:
            lines.append(OcrLine(text, float(score), corners))  # type: ignore[arg-type]
    return lines


def build_result(raw: Any, sha256: str, elapsed_s: float) -> OcrResult:
    """Turn RapidOCR's raw output (``[[box, text, score], ...]`` or None) into an OcrResult."""
    rows = reading_order(_to_lines(raw))
    ordered = tuple(line for row in rows for line in row)
    text = "\n".join(" ".join(line.text for line in row) for row in rows)
    return OcrResult(text, ordered, sha256, elapsed_s)


# ---------------------------------------------------------------------------------------
# The reader


def _decode_bgr(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot decode image for OCR: {exc}") from exc
    # RapidOCR expects OpenCV's BGR channel order for ndarray input.
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def _default_factory(threads: int | None) -> OcrEngineFn:
    from rapidocr_onnxruntime import RapidOCR

    kwargs: dict[str, Any] = {}
    if threads:
        kwargs["intra_op_num_threads"] = threads
    return RapidOCR(**kwargs)  # type: ignore[no-any-return]


class OcrReader:
    """Reads text from images, off the event loop, one image at a time, with an LRU cache.

    Args:
        cache_size: How many results to keep, keyed by image sha256.
        min_confidence: Boxes recognised with a lower score are dropped.
        threads: ONNX Runtime intra-op threads (None: all cores).
        factory: Builds the OCR engine; defaults to RapidOCR. Called once, lazily, on the
            OCR thread.
    """

    def __init__(
        self,
        *,
        cache_size: int = 128,
        min_confidence: float = 0.5,
        threads: int | None = None,
        factory: Callable[[], OcrEngineFn] | None = None,
    ) -> None:
        self._cache_size = cache_size
        self._min_confidence = min_confidence
        self._factory = factory or (lambda: _default_factory(threads))
        self._engine: OcrEngineFn | None = None
        self._load_error: BaseException | None = None
        # One worker thread: OCR runs are serialised and the model is touched by one thread.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-ocr")
        self._cache: OrderedDict[str, OcrResult] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[OcrResult]] = {}
        self._closed = False
        self.stats = OcrStats()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def load_error(self) -> BaseException | None:
        """The error from a failed model load, if any (reported by health checks)."""
        return self._load_error

    async def warm_up(self) -> None:
        """Load the OCR model now instead of on the first photo.

        Raises:
            ModelLoadError: the model could not be loaded.
        """
        await self._run(self._ensure_engine)

    async def read(self, image: ImagePart) -> OcrResult:
        """Read the text in a normalised image.

        Concurrent reads of the same image share one OCR run; later reads hit the cache.

        Raises:
            ImageError: the image bytes cannot be decoded.
            ModelLoadError: the OCR model could not be loaded.
            EngineError: OCR itself failed, or the reader is closed.
        """
        cached = self._cache.get(image.sha256)
        if cached is not None:
            self._cache.move_to_end(image.sha256)
            self.stats.cache_hits += 1
            return cached
        pending = self._inflight.get(image.sha256)
        if pending is None:
            pending = asyncio.ensure_future(self._read_uncached(image))
            self._inflight[image.sha256] = pending
            pending.add_done_callback(self._forget_inflight)
        else:
            self.stats.cache_hits += 1
        # shield: one cancelled caller must not cancel the run others are waiting on.
        return await asyncio.shield(pending)

    def _forget_inflight(self, future: asyncio.Future[OcrResult]) -> None:
        self._inflight = {k: v for k, v in self._inflight.items() if v is not future}
        if not future.cancelled():
            future.exception()  # marks it retrieved even when every waiter was cancelled

    async def _read_uncached(self, image: ImagePart) -> OcrResult:
        result = await self._run(lambda: self._ocr(image.data, image.sha256))
        self._cache[image.sha256] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    async def _run(self, fn: Callable[[], Any]) -> Any:
        if self._closed:
            raise EngineError("OCR reader is closed", code="ocr_closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def _ensure_engine(self) -> OcrEngineFn:
        if self._engine is None:
            try:
                self._engine = self._factory()
            except Exception as exc:
                self._load_error = exc
                raise ModelLoadError(
                    f"cannot load the OCR model: {exc}", code="ocr_model_load_failed"
                ) from exc
            self._load_error = None
        return self._engine

    def _ocr(self, data: bytes, sha256: str) -> OcrResult:
        engine = self._ensure_engine()
        pixels = _decode_bgr(data)
        started = time.perf_counter()
        try:
            raw, _ = engine(pixels)
        except Exception as exc:
            raise EngineError(f"OCR failed: {exc}", code="ocr_failed") from exc
        self.stats.runs += 1
        kept = [entry for entry in raw or () if float(entry[2]) >= self._min_confidence]
        return build_result(kept, sha256, time.perf_counter() - started)

    async def close(self) -> None:
        """Stop the OCR thread (waits for a running OCR to finish). Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._executor.shutdown(wait=True)
        )
        self._engine = None
