"""Draw the Voltbay Electronics evaluation photos (order screenshots, price tags, box labels,
a damaged charger) with the helpers of bench/eval/make_images.py.

    /work/main/.venv/bin/python bench/eval/shops/electronics/make_images.py

Needs a CJK font (``apt-get install -y fonts-wqy-zenhei`` or ``fonts-noto-cjk``). The PNGs are
committed, so the evaluation does not need the font. All text is drawn at 30 px or larger.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from bench.eval.make_images import Screen, Tag, write_images  # noqa: E402

OUT = Path(__file__).with_name("images")

SCREENS = (
    # E01 (telegram 2001): shipped by JD Logistics
    Screen(
        "order_vb26061805_zh",
        "订单详情",
        (
            "订单编号：VB26061805",
            "下单时间：2026-06-18 21:07",
            "65W氮化镓充电器 白色 x1",
            "编织快充线 1m x2",
            "实付款：¥237.20",
            "状态：已发货",
        ),
        (20, 90, 160),
    ),
    # E02 (telegram 2002): return requested
    Screen(
        "order_vb26061433_en",
        "Order details",
        (
            "Order No.: VB26061433",
            "StudioMax Headphones Silver x1",
            "Total ¥639.20",
            "Return requested",
        ),
        (20, 90, 160),
    ),
    # E04 (webhook voltbay-app app-8810): the shop app's own screen
    Screen(
        "order_vb26062011_app",
        "Voltbay",
        ("OrderNo.:VB26062011", "SwiftDrive SSD 1TB x1", "Paid ¥599.00"),
        (30, 30, 30),
    ),
    # E03 (telegram 2003): shown by someone else in the cases
    Screen(
        "order_vb26061617_zh",
        "订单详情",
        (
            "订单编号：VB26061617",
            "HomeCam 2K 摄像头 x1",
            "智能插座 2只装 x1",
            "实付款：¥262.40",
        ),
        (20, 90, 160),
    ),
    # no such order
    Screen(
        "order_unknown_en",
        "Order details",
        ("Order No.: VB26061999", "AeroBuds Pro Black x1", "Total ¥359.10", "Status: Paid"),
        (20, 90, 160),
    ),
    # E06 (telegram 2006): delivered (holdout)
    Screen(
        "order_vb26061311_en",
        "Order details",
        ("Order No.: VB26061311", "Pebble Mini Speaker Blue x2", "Total ¥398.40", "Delivered"),
        (20, 90, 160),
    ),
)
TAGS = (
    Tag(
        "tag_pebble",
        ("Pebble 迷你蓝牙音箱", "Pebble Mini Speaker", "VB-PEB-BL", "¥249.00"),
        angle=3,
    ),
    Tag("tag_aerobuds", ("AeroBuds Pro", "降噪耳机 黑色", "VB-ABP-BK", "¥399.00"), angle=-4),
    Tag(
        "label_vp10_white",
        ("VOLTBAY", "VoltPack 10000mAh", "SKU: VB-VP10-WH", "White 白色"),
        angle=-2,
        background=(120, 130, 150),
    ),
    Tag(
        "label_ssd_2tb",
        ("VOLTBAY", "SwiftDrive SSD", "SKU: VB-SSD-2T", "2TB USB-C"),
        angle=4,
        background=(90, 100, 120),
    ),
    Tag(  # holdout
        "label_case_ip15pro",
        ("ClearShield", "磁吸透明手机壳", "SKU: VB-CS-IP15P", "iPhone 15 Pro"),
        angle=-3,
        background=(150, 150, 150),
    ),
)


def draw_cracked_charger(note: str, font_path: str) -> Image.Image:
    """A white wall charger with a crack across its shell, and a caption."""
    image = Image.new("RGB", (640, 640), (210, 200, 185))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (190, 140, 450, 480), radius=36, fill=(245, 245, 245), outline=(90, 90, 90), width=4
    )
    for x in (250, 330):  # USB-C ports
        draw.rounded_rectangle((x, 190, x + 60, 214), radius=10, fill=(40, 40, 40))
    draw.rectangle((290, 250, 350, 274), fill=(40, 40, 40))  # USB-A
    draw.text((262, 320), "65W", font=ImageFont.truetype(font_path, 44), fill=(120, 120, 120))
    crack = [(200, 300), (245, 330), (230, 360), (290, 395), (270, 420), (330, 455), (320, 478)]
    draw.line(crack, fill=(20, 20, 20), width=5)
    draw.line([(290, 395), (340, 380), (372, 402)], fill=(20, 20, 20), width=3)
    draw.text((40, 560), note, font=ImageFont.truetype(font_path, 34), fill=(200, 20, 20))
    return image


def main() -> None:
    write_images(
        OUT,
        20260620,
        SCREENS,
        TAGS,
        {"damage_charger": lambda font: draw_cracked_charger("刚收到外壳就裂了", font)},
    )


if __name__ == "__main__":
    main()
