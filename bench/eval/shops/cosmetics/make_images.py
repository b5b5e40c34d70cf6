"""Draw the Peony Dew Skincare evaluation photos (order screenshots, price tags, product labels,
a broken toner bottle and an allergic rash) with the helpers of bench/eval/make_images.py.

    /work/main/.venv/bin/python bench/eval/shops/cosmetics/make_images.py

Needs a CJK font (``apt-get install -y fonts-wqy-zenhei`` or ``fonts-noto-cjk``). The PNGs are
committed, so the evaluation does not need the font. All text is drawn at 30 px or larger.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from bench.eval.make_images import Screen, Tag, write_images  # noqa: E402

OUT = Path(__file__).with_name("images")
PEONY = (200, 70, 110)

SCREENS = (
    # C01 (telegram 5001): shipped
    Screen(
        "order_261110kx_zh",
        "订单详情",
        (
            "订单编号：PD261110-KX",
            "水光气垫粉底 01 自然色 x1",
            "水滴美妆蛋 4只装 x1",
            "实付款：¥190.40",
            "状态：已发货",
        ),
        PEONY,
    ),
    # C02 (telegram 5002): paid, not yet shipped
    Screen(
        "order_261112mr_en",
        "Order details",
        (
            "Order No.: PD261112-MR",
            "Peony Signature Gift Set 3-piece x1",
            "Peony Hand Cream x1",
            "Paid ¥467.00",
        ),
        PEONY,
    ),
    # C04 (webhook peony-mini mp-80455): the mini-program's screen
    Screen(
        "order_261111jq_app",
        "My order",
        (
            "Order PD261111-JQ",
            "Sheet Mask box of 10 x2",
            "White Clay Mask x1",
            "Total ¥317.60",
        ),
        (120, 60, 160),
    ),
    # no such order
    Screen(
        "order_unknown_en",
        "Order details",
        ("Order No.: PD261107-NW", "Essence Toner 150 ml x1", "Paid ¥158.40", "To be shipped"),
        PEONY,
    ),
    # C05 (telegram 5005): shipped (holdout)
    Screen(
        "order_261108pf_zh",
        "订单详情",
        ("订单号 PD261108-PF", "0.3%视黄醇抗老晚霜 x1", "实付 ¥262.40", "已发货 圆通速递"),
        PEONY,
    ),
)
TAGS = (
    Tag(
        "tag_cushion",
        ("水光气垫粉底", "Dewy Cushion Foundation", "01 自然色 Natural", "¥189.00"),
        angle=3,
    ),
    Tag(
        "tag_serum_c",
        ("15%维C焕亮精华", "Vitamin C Serum 30 ml", "PD-SERUM-C", "¥238.00"),
        angle=-3,
        background=(210, 190, 170),
    ),
    Tag(
        "label_toner_250",
        ("牡丹露护肤", "牡丹露精华水 250 ml", "SKU: PD-TONER-250", "Essence Toner"),
        angle=-2,
        background=(230, 200, 210),
    ),
    Tag(
        "label_lipcream_02",
        ("丝绒雾面唇釉", "Velvet Matte Lip Cream", "02 砖红色 Brick Red", "PD-LIPCREAM-02"),
        angle=4,
        background=(170, 90, 80),
    ),
    Tag(  # holdout
        "label_hand_unscented",
        ("牡丹香氛护手霜", "Peony Hand Cream", "无香 Unscented 50 ml", "PD-HAND-UN"),
        angle=2,
        background=(200, 210, 220),
    ),
)


def draw_broken_bottle(note: str, font_path: str) -> Image.Image:
    """A pink toner bottle cracked in its box, with liquid spilled, and a caption."""
    image = Image.new("RGB", (640, 640), (236, 228, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((90, 120, 550, 520), fill=(205, 175, 140), outline=(120, 90, 60), width=4)
    draw.ellipse((150, 380, 520, 500), fill=(240, 200, 215))  # the spill
    draw.polygon([(250, 170), (360, 170), (370, 430), (240, 430)], fill=(235, 150, 180))
    draw.rectangle((275, 130, 335, 170), fill=(190, 160, 80))  # cap
    crack = [(300, 180), (280, 240), (320, 290), (270, 350), (310, 420)]
    draw.line(crack, fill=(60, 30, 40), width=5)
    draw.polygon([(370, 300), (420, 330), (395, 370)], fill=(235, 150, 180))  # a shard
    draw.text((50, 560), note, font=ImageFont.truetype(font_path, 34), fill=(200, 20, 20))
    return image


def draw_rash(note: str, font_path: str) -> Image.Image:
    """A cheek with red bumps after using a cream, and a caption."""
    rng = random.Random(1113)
    image = Image.new("RGB", (640, 640), (250, 246, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((80, 60, 560, 540), fill=(238, 198, 170))  # the cheek
    draw.ellipse((180, 200, 460, 420), fill=(232, 140, 130))  # the redness
    for _ in range(60):
        x, y = rng.randrange(190, 450), rng.randrange(210, 410)
        r = rng.randrange(4, 10)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(200, 50, 50))
    draw.text((40, 570), note, font=ImageFont.truetype(font_path, 32), fill=(180, 20, 20))
    return image


def main() -> None:
    write_images(
        OUT,
        20261113,
        SCREENS,
        TAGS,
        {
            "damage_toner": lambda font: draw_broken_bottle("精华水瓶子碎了，漏了一盒", font),
            "allergy_rash": lambda font: draw_rash("用了面霜第二天脸上起红疹", font),
        },
    )


if __name__ == "__main__":
    main()
