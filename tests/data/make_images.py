"""Generate the test images in tests/data with Pillow and a Debian CJK font.

Run from the repository root::

    .venv/bin/python tests/data/make_images.py

The images are committed, so tests never need the font; this script documents how they
were made and rebuilds them. It needs a CJK font package:
``apt-get install -y fonts-noto-cjk`` (or ``fonts-wqy-zenhei``).

Images:
    order_screenshot.png  a fake shop order page: order number SO20261102-0042, items,
                          prices, Chinese and English (the README uses it).
    price_tag.png         a shelf price tag.
    product_label.png     a product label with model number and dates.
    damaged_item.jpg      a photo-like drawing of a dented parcel with a crack (no text).
    corrupt.jpg           damaged_item.jpg cut in half (truncated bytes): for error tests.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent

# (path, face index of Simplified Chinese inside a .ttc, or 0)
FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
)
BOLD_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    *FONT_CANDIDATES,
)

INK = (33, 33, 33)
GREY = (110, 110, 110)
ACCENT = (220, 60, 40)


def find_font(candidates: tuple[tuple[str, int], ...] = FONT_CANDIDATES) -> tuple[str, int]:
    """Return (path, face index) of the first installed CJK font, or exit with a clear message."""
    for path, index in candidates:
        if Path(path).is_file():
            return path, index
    tried = "\n  ".join(path for path, _ in candidates)
    sys.exit(
        "No CJK font found. Install one with\n"
        "  apt-get update && apt-get install -y fonts-noto-cjk   (or fonts-wqy-zenhei)\n"
        f"Tried:\n  {tried}"
    )


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path, index = find_font(BOLD_CANDIDATES if bold else FONT_CANDIDATES)
    return ImageFont.truetype(path, size=size, index=index)


def save_png(image: Image.Image, name: str) -> None:
    # An adaptive palette keeps flat UI screenshots small without blurring the glyphs.
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(
        HERE / name, format="PNG", optimize=True
    )


def order_screenshot() -> None:
    image = Image.new("RGB", (720, 860), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 720, 72), fill=(255, 255, 255))
    draw.text((28, 16), "订单详情 Order Details", font=font(30, bold=True), fill=INK)
    draw.rectangle((16, 92, 704, 300), fill=(255, 255, 255))
    body = font(24)
    draw.text((36, 110), "订单号 Order No.：SO20261102-0042", font=body, fill=INK)
    draw.text((36, 156), "下单时间：2026-11-02 14:35", font=body, fill=GREY)
    draw.text((36, 202), "收货人：王小明 Wang Xiaoming", font=body, fill=GREY)
    draw.text((36, 248), "状态：已发货 Shipped", font=body, fill=(30, 140, 60))
    draw.rectangle((16, 320, 704, 640), fill=(255, 255, 255))
    items = (
        ("无线蓝牙耳机 Wireless Earbuds", "x1", "¥299.00"),
        ("手机壳 Phone Case", "x2", "¥59.00"),
        ("快充数据线 USB-C Cable", "x1", "¥39.00"),
    )
    for row, (name, qty, price) in enumerate(items):
        y = 344 + row * 96
        draw.rectangle((36, y, 100, y + 64), fill=(200, 215, 235))
        draw.text((120, y + 2), name, font=body, fill=INK)
        draw.text((120, y + 36), qty, font=font(20), fill=GREY)
        draw.text((560, y + 18), price, font=body, fill=INK)
    draw.rectangle((16, 660, 704, 760), fill=(255, 255, 255))
    draw.text((36, 690), "实付款 Total", font=body, fill=INK)
    draw.text((540, 684), "¥456.00", font=font(30, bold=True), fill=ACCENT)
    draw.text((36, 790), "如有问题请联系客服 Contact support", font=font(20), fill=GREY)
    save_png(image, "order_screenshot.png")


def price_tag() -> None:
    image = Image.new("RGB", (520, 300), (255, 236, 120))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 510, 290), outline=ACCENT, width=6)
    draw.text((36, 28), "特价 SALE", font=font(40, bold=True), fill=ACCENT)
    draw.text((36, 96), "保温杯 Thermos Cup 500ml", font=font(28), fill=INK)
    draw.text((36, 150), "¥89.90", font=font(56, bold=True), fill=INK)
    draw.text((300, 172), "原价 ¥129.00", font=font(24), fill=GREY)
    draw.text((36, 240), "SKU: KF-8842", font=font(22), fill=INK)
    save_png(image, "price_tag.png")


def product_label() -> None:
    image = Image.new("RGB", (560, 360), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 552, 352), outline=INK, width=3)
    lines = (
        ("产品名称：不锈钢保温杯", 28),
        ("Product: Stainless Steel Vacuum Cup", 22),
        ("型号 Model：TC-500", 24),
        ("容量 Capacity：500ml", 24),
        ("生产日期：2026-03-15", 24),
        ("保质期 3年  Made in China", 22),
    )
    y = 28
    for text, size in lines:
        draw.text((32, y), text, font=font(size), fill=INK)
        y += size + 28
    save_png(image, "product_label.png")


def damaged_item() -> None:
    """A photo-like scene: noisy floor, shaded parcel, a dent and a crack. No text."""
    rng = random.Random(7)
    width, height = 640, 480
    image = Image.new("RGB", (width, height))
    floor = image.load()
    for y in range(height):
        for x in range(width):
            shade = 150 + (y * 60) // height + rng.randint(-12, 12)
            floor[x, y] = (shade, shade - 18, shade - 40)
    draw = ImageDraw.Draw(image)
    draw.polygon(((150, 170), (420, 140), (520, 210), (250, 250)), fill=(196, 160, 110))
    draw.polygon(((150, 170), (250, 250), (250, 420), (150, 330)), fill=(150, 115, 75))
    draw.polygon(((250, 250), (520, 210), (520, 380), (250, 420)), fill=(176, 138, 92))
    draw.ellipse((330, 270, 420, 330), fill=(140, 104, 66))  # dent
    draw.line(((300, 260), (340, 300), (330, 350), (380, 400)), fill=(60, 40, 25), width=4)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    image.save(HERE / "damaged_item.jpg", format="JPEG", quality=82)


def corrupt_jpeg() -> None:
    """The first half of damaged_item.jpg: a valid header, then the bytes stop (a cut upload)."""
    data = (HERE / "damaged_item.jpg").read_bytes()
    (HERE / "corrupt.jpg").write_bytes(data[: len(data) // 2])


def main() -> None:
    order_screenshot()
    price_tag()
    product_label()
    damaged_item()
    corrupt_jpeg()
    for path in sorted(HERE.glob("*.*g")):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
