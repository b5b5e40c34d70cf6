"""Bot definitions: each folder is one bot (``bots/<name>/bot.yaml`` + ``brain.py``).

``bots.loader`` builds the brains named in the settings. Brains built in one process share
one OCR reader (:func:`shared_ocr_reader`), so a photo is read once, not once per brain.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_reader: Any = None


def shared_ocr_reader(settings: Any = None) -> Any:
    """The process-wide :class:`core.media.ocr.OcrReader` (created on first use; the model loads lazily).

    Args:
        settings: kefu settings; ``settings.ocr`` configures the reader when it is created.
            Pass the same reader to ``core.engines.factory.build_engine(..., ocr=...)`` so
            the engine's OCR wrapper and the brains share one cache.
    """
    global _reader
    with _lock:
        if _reader is None:
            from core.media.ocr import OcrReader

            # Same knobs as core.engines.factory.build_ocr_reader, without importing torch.
            ocr = getattr(settings, "ocr", None)
            _reader = OcrReader(
                cache_size=getattr(ocr, "cache_size", 128),
                min_confidence=getattr(ocr, "min_confidence", 0.5),
                threads=getattr(ocr, "threads", None),
            )
        return _reader
