"""Draw the baby shop's evaluation photos: order screenshots, price tags, product labels and
damage photos (a cracked bottle, a car seat buckle that snapped).

    .venv/bin/python bench/eval/shops/baby/make_images.py   # writes images/*.png next to it

Uses the shared helpers of bench/eval/make_images.py (needs a CJK font, see there); the damage
photos are drawn here because the shared damage drawing is a torn garment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # run as a script from anywhere

from bench.eval.make_images import Screen, Tag, write_images

OUT = Path(__file__).with_name("images")
SEED = 20261220

SCREENS = (
    Screen(
        "order_26121805_zh",
        "订单详情",
        (
            "订单编号：BB26121805",
            "下单时间：2026-12-18 09:41",
            "云柔纸尿裤 L 96片 ×2",
            "纯水婴儿湿巾 80抽 ×2",
            "实付款：¥298.20",
            "状态：已发货",
        ),
    ),
    Screen(
        "order_26121902_en",
        "Order details",
        (
            "Order No.: BB26121902",
            "Muslin Baby Sleep Bag",
            "0-6 months, 2.5 TOG x2",
            "Total ¥308.00",
            "Paid",
        ),
        (96, 160, 120),
    ),
    Screen(
        "order_26122001_app",
        "Little Sprout",
        ("Order BB26122001", "SafeNest 360 Car Seat", "Stone Grey x1", "Paid ¥1719.00"),
        (96, 160, 120),
    ),
    Screen(
        "order_26121404_zh",
        "订单详情",
        ("订单号 BB26121404", "吸奶器新手套装 ×1", "合计 ¥819.00", "退货处理中"),
    ),
    Screen(
        "order_unknown_zh",
        "订单详情",
        ("订单编号：BB26121299", "纱布婴儿睡袋 ×1", "实付款：¥199.00", "待发货"),
    ),
)
TAGS = (
    Tag(
        "tag_carrier",
        ("舒适背婴腰凳背带", "Ergo-Fit Baby Carrier", "BB-CARRIER", "¥459.00"),
        angle=3,
    ),
    Tag(
        "tag_sleepbag",
        ("纱布婴儿睡袋", "Muslin Sleep Bag", "6-18 months 2.5 TOG", "¥209.00"),
        angle=-4,
    ),
    Tag(
        "label_nappy_m",
        ("CloudSoft 云柔", "SKU: BB-NAPPY-M56", "Size M 6-11 kg", "56 pcs 片"),
        angle=-2,
        background=(150, 170, 190),
    ),
    Tag(
        "label_teat_m",
        ("Little Sprout", "SKU: BB-TEAT-M", "Teats M (3-6 months)", "2 pcs"),
        angle=4,
        background=(200, 190, 210),
    ),
)


def _font(font_path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path, size)


def draw_cracked_bottle(font_path: str) -> Image.Image:
    image = Image.new("RGB", (640, 640), (228, 224, 218))
    draw = ImageDraw.Draw(image)
    draw.rectangle((250, 70, 390, 130), fill=(250, 200, 170))  # teat cap
    draw.rounded_rectangle((220, 130, 420, 540), radius=40, fill=(235, 225, 180))  # PPSU body
    for y in range(200, 500, 60):
        draw.line((230, y, 260, y), fill=(120, 110, 90), width=3)  # scale marks
    crack = [(330, 210), (310, 270), (345, 320), (300, 380), (335, 430), (315, 490)]
    draw.line(crack, fill=(40, 40, 40), width=5)
    draw.line([(345, 320), (390, 300)], fill=(40, 40, 40), width=4)
    draw.text((40, 570), "奶瓶收到就裂了", font=_font(font_path, 34), fill=(200, 20, 20))
    return image


def draw_broken_buckle(font_path: str) -> Image.Image:
    image = Image.new("RGB", (640, 640), (60, 60, 66))
    draw = ImageDraw.Draw(image)
    draw.rectangle((120, 60, 200, 330), fill=(30, 30, 30))  # harness straps
    draw.rectangle((440, 60, 520, 330), fill=(30, 30, 30))
    draw.rounded_rectangle((220, 300, 420, 420), radius=24, fill=(200, 30, 30))  # buckle
    draw.polygon([(250, 250), (300, 250), (290, 310), (260, 305)], fill=(180, 180, 185))
    draw.polygon([(350, 240), (395, 255), (380, 300), (345, 290)], fill=(180, 180, 185))
    draw.line([(300, 330), (320, 360), (305, 390), (330, 415)], fill=(250, 250, 250), width=4)
    draw.text((40, 570), "Buckle snapped", font=_font(font_path, 34), fill=(250, 220, 60))
    return image


def main() -> None:
    others = {"damage_bottle_cracked": draw_cracked_bottle, "damage_buckle": draw_broken_buckle}
    write_images(OUT, SEED, SCREENS, TAGS, others)


if __name__ == "__main__":
    main()
