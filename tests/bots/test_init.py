"""bots package: one OCR reader per process, shared by the brains."""

from __future__ import annotations

import bots
from bots import shared_ocr_reader
from bots.shop.brain import build_brain as build_shop
from bots.staff.brain import build_brain as build_staff
from core.media.ocr import OcrReader


def test_brains_share_one_lazy_reader(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bots, "_reader", None)
    shop, staff = build_shop(), build_staff()
    reader = shared_ocr_reader()
    assert isinstance(reader, OcrReader) and not reader.loaded  # the model loads on first photo
    assert shop.ocr is reader and staff.ocr is reader
