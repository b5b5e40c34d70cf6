"""Draw the Paw Harbor Pet Supplies evaluation photos (order screenshots, price tags, product
labels, a torn dog-food bag and a cracked water fountain) with the helpers of
bench/eval/make_images.py.

    /work/main/.venv/bin/python bench/eval/shops/pets/make_images.py

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
HARBOR = (30, 120, 140)

SCREENS = (
    # PH01 (telegram 6001): shipped with ZTO
    Screen(
        "order_1214118_zh",
        "订单详情",
        (
            "订单编号：PAW1214-118",
            "鸡肉金枪鱼幼猫粮 1.5 kg x1",
            "85克猫罐头 Tuna x6",
            "实付款：¥170.00",
            "状态：已发货",
        ),
        HARBOR,
    ),
    # PH02 (telegram 6002): paid, not yet shipped
    Screen(
        "order_1215031_en",
        "Order details",
        (
            "Order No.: PAW1215-031",
            "Automatic Pet Feeder 4 L x1",
            "Calming Donut Pet Bed 70 cm x1",
            "Paid ¥388.00",
        ),
        HARBOR,
    ),
    # PH04 (webhook pawapp pa-2290): the app's screen, being packed
    Screen(
        "order_1216009_app",
        "My order",
        (
            "Order PAW1216-009",
            "No-Pull Dog Harness M Navy x1",
            "Retractable Dog Leash 5 m x1",
            "Rubber Chew Ball L x1",
            "Total ¥193.00",
        ),
        (240, 140, 40),
    ),
    # no such order
    Screen(
        "order_unknown_zh",
        "订单详情",
        ("订单编号：PAW1212-404", "130厘米猫爬架 x1", "实付款：¥379.00", "状态：待发货"),
        HARBOR,
    ),
    # PH05 (telegram 6005): shipped with SF (holdout)
    Screen(
        "order_1213087_zh",
        "订单详情",
        ("订单号 PAW1213-087", "无谷三文鱼全犬粮 12 kg x1", "实付 ¥493.15", "已发货 顺丰速运"),
        HARBOR,
    ),
)
TAGS = (
    Tag(
        "tag_feeder",
        ("自动喂食器 4升", "Automatic Pet Feeder 4 L", "PH-FEEDER", "¥329.00"),
        angle=3,
        background=(200, 200, 195),
    ),
    Tag(
        "tag_bed_70",
        ("甜甜圈安抚宠物窝", "Calming Donut Pet Bed", "70 cm", "¥169.00"),
        angle=-3,
        background=(190, 170, 150),
    ),
    Tag(
        "label_litter_peach",
        ("爪湾宠物 Paw Harbor", "豆腐猫砂 6L", "Tofu Cat Litter", "Peach 蜜桃"),
        angle=-2,
        background=(235, 205, 190),
    ),
    Tag(
        "label_harness_l_navy",
        ("No-Pull Dog Harness", "防爆冲胸背带", "Size L  Navy", "PH-HARNESS-L-NAVY"),
        angle=4,
        background=(60, 70, 110),
    ),
    Tag(  # holdout
        "label_can_salmon",
        ("85克猫罐头", "Wet Cat Food Can 85 g", "Salmon & Shrimp", "PH-CAN-SALMON"),
        angle=2,
        background=(170, 200, 210),
    ),
)


def draw_torn_bag(note: str, font_path: str) -> Image.Image:
    """A dog-food bag torn open in its carton with kibble spilled, and a caption."""
    rng = random.Random(1216)
    image = Image.new("RGB", (640, 640), (232, 226, 214))
    draw = ImageDraw.Draw(image)
    draw.rectangle((70, 110, 570, 530), fill=(200, 168, 122), outline=(120, 90, 50), width=4)
    draw.polygon([(190, 140), (450, 140), (480, 470), (160, 470)], fill=(40, 110, 130))  # bag
    tear = [(300, 200), (330, 250), (290, 300), (340, 350), (300, 400)]
    draw.line(tear, fill=(20, 20, 20), width=6)
    for _ in range(140):  # spilled kibble
        x, y = rng.randrange(110, 540), rng.randrange(380, 515)
        r = rng.randrange(5, 9)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(150, 95, 45))
    draw.text((40, 560), note, font=ImageFont.truetype(font_path, 34), fill=(200, 20, 20))
    return image


def draw_cracked_fountain(note: str, font_path: str) -> Image.Image:
    """A white water fountain with a cracked tank and water on the floor, and a caption."""
    image = Image.new("RGB", (640, 640), (222, 228, 232))
    draw = ImageDraw.Draw(image)
    draw.ellipse((90, 400, 560, 520), fill=(170, 200, 225))  # the puddle
    draw.rounded_rectangle(
        (180, 180, 460, 460), radius=40, fill=(248, 248, 248), outline=(90, 90, 90), width=4
    )
    draw.ellipse((240, 150, 400, 220), fill=(200, 225, 240), outline=(90, 90, 90), width=3)
    crack = [(260, 230), (300, 290), (270, 340), (330, 400), (310, 450)]
    draw.line(crack, fill=(40, 40, 40), width=5)
    draw.text((40, 560), note, font=ImageFont.truetype(font_path, 32), fill=(200, 20, 20))
    return image


def main() -> None:
    write_images(
        OUT,
        20261216,
        SCREENS,
        TAGS,
        {
            "damage_food_bag": lambda font: draw_torn_bag("狗粮袋子破了，撒了一箱子", font),
            "damage_fountain": lambda font: draw_cracked_fountain(
                "Fountain tank cracked, leaking", font
            ),
        },
    )


if __name__ == "__main__":
    main()
