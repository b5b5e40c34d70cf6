"""Tests for core.media.ocr: text normalisation, reading order, and real RapidOCR on test images."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from core.errors import EngineError, ImageError, ModelLoadError
from core.media.images import normalise_image
from core.media.ocr import (
    OcrEngineFn,
    OcrLine,
    OcrReader,
    build_result,
    find_codes,
    matching_key,
    normalise_ocr_text,
    reading_order,
)
from core.model.turn import ImagePart

DATA = Path(__file__).parent.parent / "data"
ORDER_NUMBER = r"SO\d{8}-\d{4}"


def image_part(name: str) -> ImagePart:
    return normalise_image((DATA / name).read_bytes())


def blank(width: int = 96, height: int = 96, shade: int = 255) -> ImagePart:
    """A plain image: nothing to read, and quick to OCR. Distinct sizes give distinct hashes."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (shade, shade, shade)).save(out, format="PNG")
    return normalise_image(out.getvalue())


@pytest.fixture(scope="module")
def rapid() -> OcrEngineFn:
    """One real RapidOCR, loaded once for the module (loading costs about a second)."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=2)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reader(rapid: OcrEngineFn) -> OcrReader:
    return OcrReader(factory=lambda: rapid)


# ----------------------------------------------------------------------------- normalise


def test_normalise_folds_full_width_punctuation_and_digits() -> None:
    assert normalise_ocr_text("订单号OrderNo.：SO20261102-0042") == "订单号OrderNo.:SO20261102-0042"
    assert normalise_ocr_text("＃１２３　价格￥５９．００") == "#123 价格¥59.00"


def test_normalise_unifies_dashes_and_collapses_spaces_but_keeps_lines() -> None:
    raw = "  SO20261102\u20140042  \n\n型号\u3000TC\u2013500\t x1 "
    assert normalise_ocr_text(raw) == "SO20261102-0042\n\n型号 TC-500 x1"


def test_normalise_leaves_chinese_text_alone() -> None:
    assert normalise_ocr_text("收货人王小明，已发货。") == "收货人王小明,已发货。"


def test_matching_key_ignores_spacing_width_and_case() -> None:
    assert matching_key("Order No.: so2026 1102-0042") == matching_key("OrderNo.：SO20261102－0042")
    assert matching_key("Order No.: so2026 1102-0042") == "ORDERNO.:SO20261102-0042"


def test_find_codes_matches_despite_ocr_spacing_and_dedupes() -> None:
    text = "订单号OrderNo.：SO20261102—0042\n再次确认 so 20261102-0042\n另一单 SO20260101-0001"
    assert find_codes(text, ORDER_NUMBER) == ("SO20261102-0042", "SO20260101-0001")
    assert find_codes("no order here", ORDER_NUMBER) == ()


# ----------------------------------------------------------------------------- reading order


def box(x: float, y: float, w: float, h: float) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def line(text: str, x: float, y: float, w: float = 100, h: float = 30) -> OcrLine:
    return OcrLine(text, 0.9, box(x, y, w, h))  # type: ignore[arg-type]


def test_reading_order_groups_rows_top_to_bottom_left_to_right() -> None:
    shuffled = [
        line("¥59.00", 500, 108),  # right column, a few px lower than its row
        line("Total", 20, 300),
        line("Phone Case", 20, 100),
        line("Title", 20, 10),
        line("x2", 150, 100),
    ]
    rows = reading_order(shuffled)
    assert [[item.text for item in row] for row in rows] == [
        ["Title"],
        ["Phone Case", "x2", "¥59.00"],
        ["Total"],
    ]


def test_reading_order_splits_boxes_that_barely_overlap() -> None:
    rows = reading_order([line("below", 20, 125), line("above", 20, 100)])
    assert [[item.text for item in row] for row in rows] == [["above"], ["below"]]


def test_build_result_joins_rows_and_skips_blank_text() -> None:
    raw = [
        [[[400, 50], [500, 50], [500, 80], [400, 80]], "¥299.00", 0.95],
        [[[10, 52], [300, 52], [300, 82], [10, 82]], "无线蓝牙耳机", 0.99],
        [[[10, 5], [300, 5], [300, 35], [10, 35]], "订单详情", 0.98],
        [[[10, 120], [300, 120], [300, 150], [10, 150]], "   ", 0.97],
    ]
    result = build_result(raw, "abc", 0.1)
    assert result.text == "订单详情\n无线蓝牙耳机 ¥299.00"
    assert [item.text for item in result.lines] == ["订单详情", "无线蓝牙耳机", "¥299.00"]
    assert result.sha256 == "abc"
    assert result.mean_confidence == pytest.approx((0.95 + 0.99 + 0.98) / 3)
    assert not result.is_empty
    assert build_result(None, "x", 0.0).is_empty


# ----------------------------------------------------------------------------- real OCR


@pytest.mark.slow
async def test_reads_order_number_and_chinese_from_order_screenshot(reader: OcrReader) -> None:
    result = await reader.read(image_part("order_screenshot.png"))
    assert find_codes(result.text, ORDER_NUMBER) == ("SO20261102-0042",)
    normalised = normalise_ocr_text(result.text)
    for expected in ("订单详情", "已发货", "实付款", "¥456.00", "¥299.00"):
        assert expected in normalised, (expected, normalised)
    assert "Wireless" in result.text
    # Reading order: title first, then the order number line, the items, the total last.
    texts = [item.text for item in result.lines]
    assert "订单详情" in texts[0]
    order_row = next(i for i, t in enumerate(texts) if "SO20261102" in t)
    total_row = next(i for i, t in enumerate(texts) if "Total" in t)
    earbuds_row = next(i for i, t in enumerate(texts) if "耳机" in t)
    assert 0 < order_row < earbuds_row < total_row
    assert all(0.5 <= item.confidence <= 1.0 for item in result.lines)
    assert result.elapsed_s > 0


@pytest.mark.slow
async def test_reads_product_label_model_and_date(reader: OcrReader) -> None:
    result = await reader.read(image_part("product_label.png"))
    key = matching_key(result.text)
    assert "TC-500" in key
    assert "2026-03-15" in key
    assert "不锈钢保温杯" in result.text


async def test_reads_price_and_sku_from_price_tag(reader: OcrReader) -> None:
    result = await reader.read(image_part("price_tag.png"))
    assert find_codes(result.text, r"KF-\d{4}") == ("KF-8842",)
    key = matching_key(result.text)
    assert "¥89.90" in key and "¥129.00" in key
    assert "特价" in result.text


async def test_blank_image_has_no_text(reader: OcrReader) -> None:
    result = await reader.read(blank(100, 90))
    assert result.is_empty
    assert result.lines == ()
    assert result.text == ""


async def test_cache_returns_the_same_result_without_running_ocr_again(
    rapid: OcrEngineFn,
) -> None:
    reader = OcrReader(factory=lambda: rapid)
    image = blank(97, 97)
    first = await reader.read(image)
    second = await reader.read(image)
    assert second is first
    assert first.sha256 == image.sha256
    assert (reader.stats.runs, reader.stats.cache_hits) == (1, 1)
    await reader.close()


async def test_concurrent_reads_of_one_image_share_one_run(rapid: OcrEngineFn) -> None:
    reader = OcrReader(factory=lambda: rapid)
    results = await asyncio.gather(*(reader.read(blank(98, 98)) for _ in range(3)))
    assert results[0] is results[1] is results[2]
    assert reader.stats.runs == 1
    await reader.close()


async def test_lru_cache_evicts_the_oldest_image(rapid: OcrEngineFn) -> None:
    reader = OcrReader(cache_size=1, factory=lambda: rapid)
    first, second = blank(99, 99), blank(99, 99, shade=200)
    await reader.read(first)
    await reader.read(second)  # evicts first
    await reader.read(first)
    assert (reader.stats.runs, reader.stats.cache_hits) == (3, 0)
    await reader.read(first)
    assert (reader.stats.runs, reader.stats.cache_hits) == (3, 1)
    await reader.close()


async def test_ocr_runs_on_its_own_thread_and_the_loop_keeps_running(
    rapid: OcrEngineFn,
) -> None:
    threads: list[str] = []

    def factory() -> OcrEngineFn:
        threads.append(threading.current_thread().name)
        return rapid

    def recording_engine(pixels):  # the real OCR, noting the thread it runs on
        threads.append(threading.current_thread().name)
        return rapid(pixels)

    reader = OcrReader(factory=lambda: (factory(), recording_engine)[1])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await reader.read(image_part("price_tag.png"))
    elapsed = time.perf_counter() - started
    ticking.cancel()
    main_thread = threading.current_thread().name
    assert len(threads) == 2
    assert all(name.startswith("kefu-ocr") and name != main_thread for name in threads)
    # OCR of the tag takes about a second; a blocked loop would not tick meanwhile.
    assert elapsed > 0.2
    assert ticks >= int(elapsed / 0.01 * 0.3), (ticks, elapsed)
    await reader.close()


async def test_corrupt_image_raises_image_error_and_is_not_cached(reader: OcrReader) -> None:
    data = (DATA / "corrupt.jpg").read_bytes()
    with pytest.raises(ImageError):
        normalise_image(data)  # the test file really is corrupt
    broken = ImagePart.from_normalised(data, "image/jpeg", 640, 480)
    with pytest.raises(ImageError, match="cannot decode"):
        await reader.read(broken)
    with pytest.raises(ImageError):
        await reader.read(broken)  # failures are not cached


async def test_model_load_failure_is_a_typed_error_and_reported() -> None:
    def factory():
        raise RuntimeError("onnx model missing")

    reader = OcrReader(factory=factory)
    with pytest.raises(ModelLoadError, match="onnx model missing") as caught:
        await reader.read(blank())
    assert caught.value.code == "ocr_model_load_failed"
    assert isinstance(reader.load_error, RuntimeError)
    assert not reader.loaded
    await reader.close()


async def test_ocr_runtime_failure_is_an_engine_error() -> None:
    def factory():
        def broken_engine(_pixels):
            raise ValueError("bad tensor shape")

        return broken_engine

    reader = OcrReader(factory=factory)
    with pytest.raises(EngineError, match="bad tensor shape") as caught:
        await reader.read(blank())
    assert caught.value.code == "ocr_failed"
    await reader.close()


async def test_closed_reader_refuses_work() -> None:
    reader = OcrReader(threads=2)
    await reader.close()
    await reader.close()  # idempotent
    with pytest.raises(EngineError, match="closed"):
        await reader.read(blank())


async def test_warm_up_loads_the_model_once() -> None:
    loads = 0

    def factory():
        nonlocal loads
        loads += 1
        return lambda _pixels: (None, None)

    reader = OcrReader(factory=factory)
    await reader.warm_up()
    await reader.warm_up()
    assert reader.loaded and loads == 1
    assert (await reader.read(blank())).is_empty
    await reader.close()
