"""Draw the Misty Hill Tea & Snacks evaluation photos (order screenshots, price tags, package
labels, a crushed mooncake box) with the helpers of bench/eval/make_images.py.

    /work/main/.venv/bin/python bench/eval/shops/food/make_images.py

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
GREEN = (46, 125, 80)

SCREENS = (
    # F01 (telegram 3001): shipped
    Screen(
        "order_001204_zh",
        "订单详情",
        (
            "订单编号：WX-2026-001204",
            "双黄白莲蓉月饼 8枚装 x1",
            "中秋茶月礼盒 x1",
            "实付款：¥446.00",
            "状态：已发货",
        ),
        GREEN,
    ),
    # F02 (telegram 3002): paid, not yet shipped
    Screen(
        "order_001250_en",
        "Order details",
        ("Order No.: WX-2026-001250", "Snow-skin Mooncakes Mango x2", "Paid ¥256.00"),
        GREEN,
    ),
    # F04 (webhook youzan yz-20417): the Youzan store's screen
    Screen(
        "order_001178_app",
        "My order",
        (
            "Order WX-2026-001178",
            "Tieguanyin 250g x1",
            "Gaiwan x1",
            "Refund requested ¥178.00",
        ),
        (200, 40, 40),
    ),
    # F03 (telegram 3003): shown by someone else in the cases
    Screen(
        "order_001233_zh",
        "订单详情",
        ("订单号 WX-2026-001233", "云南普洱熟茶饼 357g x1", "合计 ¥198.00", "已发货"),
        GREEN,
    ),
    # no such order
    Screen(
        "order_unknown_zh",
        "订单详情",
        ("订单编号：WX-2026-009321", "西湖龙井 100g x1", "实付款：¥168.00", "待发货"),
        GREEN,
    ),
    # F06 (telegram 3006): shipped (holdout)
    Screen(
        "order_001241_en",
        "Order details",
        (
            "Order No.: WX-2026-001241",
            "Lotus Seed Mooncakes box of 4 x1",
            "Tieguanyin 100g x1",
            "Paid ¥186.00",
        ),
        GREEN,
    ),
)
TAGS = (
    Tag(
        "tag_puer", ("云南普洱熟茶饼", "Ripe Pu-erh Tea Cake", "T-PE357  357g", "¥198.00"), angle=3
    ),
    Tag("tag_gaiwan", ("德化白瓷盖碗", "Porcelain Gaiwan", "TW-GAIWAN", "¥68.00"), angle=-3),
    Tag(
        "label_longjing_250",
        ("山岚茶食铺", "西湖龙井 250g", "SKU: T-LJ-250", "West Lake Longjing"),
        angle=-2,
        background=(120, 140, 110),
    ),
    Tag(
        "label_walnut",
        ("琥珀核桃仁", "Honey Amber Walnuts", "净含量 200g", "SN-WALNUT"),
        angle=4,
        background=(150, 120, 90),
    ),
    Tag(  # holdout
        "label_seaweed_spicy",
        ("海苔脆片 香辣味", "Crispy Seaweed Spicy", "SN-SEAWEED-SP", "净含量 40g"),
        angle=2,
        background=(80, 110, 90),
    ),
)


def draw_crushed_box(note: str, font_path: str) -> Image.Image:
    """A red mooncake box, dented and torn, with broken mooncakes and a caption."""
    image = Image.new("RGB", (640, 640), (225, 220, 210))
    draw = ImageDraw.Draw(image)
    draw.polygon([(120, 140), (520, 120), (540, 470), (100, 490)], fill=(180, 30, 40))
    draw.polygon(
        [(300, 130), (360, 250), (330, 330), (390, 470), (250, 480), (280, 320)], fill=(120, 20, 25)
    )
    for x, y in ((170, 220), (400, 200), (180, 380)):
        draw.ellipse((x, y, x + 90, y + 90), fill=(205, 150, 70), outline=(140, 90, 30), width=3)
    draw.polygon([(420, 360), (470, 350), (500, 400), (440, 430)], fill=(205, 150, 70))
    draw.line([(420, 360), (500, 400)], fill=(90, 50, 10), width=3)
    draw.text((60, 560), note, font=ImageFont.truetype(font_path, 34), fill=(200, 20, 20))
    return image


def main() -> None:
    write_images(
        OUT,
        20260920,
        SCREENS,
        TAGS,
        {"damage_mooncake": lambda font: draw_crushed_box("月饼盒压扁了，月饼都碎了", font)},
    )


if __name__ == "__main__":
    main()
