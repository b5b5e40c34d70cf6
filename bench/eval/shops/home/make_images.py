"""Draw the home & kitchen shop's evaluation photos with the shared helpers.

    .venv/bin/python bench/eval/shops/home/make_images.py   # writes bench/eval/shops/home/images

Order screenshots, price tags and product labels come from bench/eval/make_images.py; the three
damage photos (a chipped casserole lid, a shattered glass container, a peeling wok) are drawn
here because the shared damage drawing is a torn garment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from bench.eval.make_images import Screen, Tag, write_images

OUT = Path(__file__).with_name("images")

SCREENS = (
    Screen(
        "order_483390_zh",
        "订单详情",
        (
            "订单编号：HK-483390",
            "下单时间：2026-12-16 21:05",
            "空气炸锅 4.5 L ×1",
            "实付款：¥319.00",
            "状态：已发货",
        ),
    ),
    Screen(
        "order_483512_en",
        "Order details",
        (
            "Order No.: HK-483512",
            "Washed Cotton Bedding Set 1.8 m Oat x1",
            "Duck Down Pillow Medium x2",
            "Total ¥605.60",
        ),
        (70, 110, 90),
    ),
    Screen(
        "order_483655_app",
        "Copper Hearth",
        ("Order HK-483655", "Cast Iron Casserole 4.2 L Navy x1", "Paid ¥436.65", "Packing"),
        (150, 80, 40),
    ),
    Screen(
        "order_483201_zh",
        "订单详情",
        (
            "订单号 HK-483201",
            "玻璃保鲜盒 5件套 ×1",
            "密封储物罐 1.2 L ×2",
            "合计 ¥187.00",
            "已发货",
        ),
    ),
    Screen(
        "order_unknown_zh",
        "订单详情",
        ("订单编号：HK-475555", "埃及棉浴巾 白色 ×2", "实付款：¥158.00"),
    ),
)
TAGS = (
    Tag(
        "tag_casserole_25",
        ("珐琅铸铁炖锅", "Cast Iron Casserole 2.5 L", "CI-25-RD 樱桃红", "¥399.00"),
        angle=3,
    ),
    Tag("tag_airfryer_6l", ("空气炸锅 6L", "Air Fryer 6 L", "AF-60", "¥499.00"), angle=-4),
    Tag(
        "label_towel_navy",
        ("Copper Hearth 铜炉", "SKU: TW-BATH-NV", "浴巾 Bath Towel Navy", "70 × 140 cm"),
        angle=-2,
        background=(60, 70, 110),
    ),
    Tag(
        "label_kettle_black",
        ("Copper Hearth 铜炉", "SKU: EK-BK", "Glass Kettle 1.7 L", "黑色 Black"),
        angle=2,
        background=(120, 120, 120),
    ),
)


def _caption(image: Image.Image, text: str, font_path: str) -> None:
    if text:
        font = ImageFont.truetype(font_path, 32)
        ImageDraw.Draw(image).text((40, 580), text, font=font, fill=(200, 20, 20))


def draw_casserole_lid(font_path: str) -> Image.Image:
    """A red enamel lid with a chip and a crack, on a kitchen counter."""
    image = Image.new("RGB", (640, 640), (214, 205, 190))
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 140, 530, 520), fill=(170, 30, 40), outline=(90, 10, 20), width=6)
    draw.ellipse((280, 290, 360, 370), fill=(60, 60, 60))  # the knob
    draw.polygon([(470, 230), (515, 260), (500, 300), (455, 280)], fill=(40, 40, 40))  # chip
    draw.line([(455, 280), (420, 330), (430, 380), (390, 430)], fill=(30, 30, 30), width=5)
    _caption(image, "收到锅盖就崩了一块", font_path)
    return image


def draw_glass_box(font_path: str) -> Image.Image:
    """A glass container in pieces inside a crushed carton."""
    image = Image.new("RGB", (640, 640), (200, 170, 120))
    draw = ImageDraw.Draw(image)
    draw.polygon([(80, 120), (560, 100), (590, 540), (60, 560)], fill=(170, 135, 85))
    draw.line([(80, 120), (300, 260), (560, 100)], fill=(120, 90, 50), width=6)  # crushed flap
    shards = (
        [(180, 300), (260, 280), (240, 360)],
        [(300, 330), (380, 300), (400, 390), (330, 410)],
        [(420, 280), (470, 330), (410, 350)],
        [(200, 400), (280, 420), (230, 470)],
    )
    for shard in shards:
        draw.polygon(shard, fill=(215, 235, 240), outline=(90, 120, 130))
    _caption(image, "Arrived broken / 碎了", font_path)
    return image


def draw_wok_coating(font_path: str) -> Image.Image:
    """A sage wok seen from above with patches of coating peeled off."""
    image = Image.new("RGB", (640, 640), (235, 232, 226))
    draw = ImageDraw.Draw(image)
    draw.rectangle((520, 300, 630, 340), fill=(60, 45, 35))  # handle
    draw.ellipse((70, 90, 530, 550), fill=(120, 150, 125), outline=(60, 70, 60), width=8)
    draw.ellipse((150, 170, 450, 470), fill=(140, 168, 142))
    for box in ((230, 230, 300, 280), (320, 330, 390, 370), (250, 360, 290, 400)):
        draw.ellipse(box, fill=(175, 175, 180), outline=(110, 110, 115), width=2)  # bare metal
    _caption(image, "用了三次就起皮", font_path)
    return image


def main() -> None:
    others = {
        "damage_casserole_lid": draw_casserole_lid,
        "damage_glass_box": draw_glass_box,
        "damage_wok_coating": draw_wok_coating,
    }
    write_images(OUT, 20261218, SCREENS, TAGS, others)


if __name__ == "__main__":
    main()
