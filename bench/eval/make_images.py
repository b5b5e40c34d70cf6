"""Draw the evaluation photos: order screenshots, price tags, product labels, parcels, damage.

    .venv/bin/python -m bench.eval.make_images      # writes bench/eval/images/*.png

Needs a CJK font from Debian packages (``apt-get install -y fonts-noto-cjk`` or
``fonts-wqy-zenhei``); the script finds it and fails with that hint when it is missing.
The PNGs are committed, so the evaluation itself does not need the font.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).with_name("images")
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


FONT_ROOTS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


def find_cjk_font(
    candidates: Sequence[str] = FONT_CANDIDATES, roots: Sequence[Path] = FONT_ROOTS
) -> str:
    """Path of an installed CJK font.

    Raises:
        SystemExit: none is installed (with the apt-get command that installs one).
    """
    for candidate in candidates:
        if Path(candidate).exists():
            return candidate
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else ():
            if path.suffix.lower() in (".ttc", ".ttf", ".otf") and any(
                k in path.name.lower() for k in ("cjk", "wqy", "zenhei")
            ):
                return str(path)
    raise SystemExit(
        "no CJK font found. Install one from Debian packages:\n"
        "  apt-get update && apt-get install -y fonts-noto-cjk   (or fonts-wqy-zenhei)"
    )


@dataclass(frozen=True)
class Screen:
    """A phone screenshot: a title bar and rows of text."""

    name: str
    title: str
    rows: Sequence[str]
    accent: tuple[int, int, int] = (232, 84, 40)


@dataclass(frozen=True)
class Tag:
    """A price tag or hang tag photographed slightly rotated on a fabric background."""

    name: str
    rows: Sequence[str]
    angle: float = 0.0
    background: tuple[int, int, int] = (186, 170, 150)


@dataclass(frozen=True)
class Damage:
    """A garment with a tear (drawn), optionally with a caption written on the photo."""

    name: str
    note: str = ""
    colour: tuple[int, int, int] = (70, 110, 170)


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def draw_screen(spec: Screen, font_path: str) -> Image.Image:
    image = Image.new("RGB", (720, 200 + 64 * len(spec.rows)), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 720, 110), fill=spec.accent)
    draw.text((36, 30), spec.title, font=_font(font_path, 40), fill=(255, 255, 255))
    y = 140
    body = _font(font_path, 30)
    for row in spec.rows:
        draw.rectangle((20, y - 10, 700, y + 50), fill=(255, 255, 255))
        draw.text((40, y), row, font=body, fill=(30, 30, 30))
        y += 64
    return image


def draw_tag(spec: Tag, font_path: str, rng: random.Random) -> Image.Image:
    card = Image.new("RGB", (520, 120 + 70 * len(spec.rows)), (252, 250, 244))
    draw = ImageDraw.Draw(card)
    draw.rectangle((8, 8, card.width - 9, card.height - 9), outline=(40, 40, 40), width=3)
    draw.ellipse(
        (card.width // 2 - 14, 22, card.width // 2 + 14, 50), outline=(80, 80, 80), width=3
    )
    y = 70
    for index, row in enumerate(spec.rows):
        size = 44 if index == 0 or row.startswith("¥") else 32
        draw.text((40, y), row, font=_font(font_path, size), fill=(20, 20, 20))
        y += 70
    canvas = Image.new("RGB", (card.width + 160, card.height + 160), spec.background)
    noise = ImageDraw.Draw(canvas)
    for _ in range(400):  # a little fabric texture
        x, y0 = rng.randrange(canvas.width), rng.randrange(canvas.height)
        shade = tuple(max(0, c - rng.randrange(25)) for c in spec.background)
        noise.line((x, y0, x + rng.randrange(-12, 12), y0 + rng.randrange(-12, 12)), fill=shade)
    rotated = card.rotate(
        spec.angle, expand=True, fillcolor=spec.background, resample=Image.Resampling.BICUBIC
    )
    canvas = canvas.resize((rotated.width + 120, rotated.height + 120))
    canvas.paste(rotated, (60, 60))
    return canvas.filter(ImageFilter.GaussianBlur(0.6))


def draw_damage(spec: Damage, font_path: str) -> Image.Image:
    image = Image.new("RGB", (640, 640), (225, 222, 216))
    draw = ImageDraw.Draw(image)
    shirt = [
        (180, 120),
        (260, 90),
        (380, 90),
        (460, 120),
        (560, 220),
        (500, 280),
        (460, 250),
        (460, 560),
        (180, 560),
        (180, 250),
        (140, 280),
        (80, 220),
    ]
    draw.polygon(shirt, fill=spec.colour)
    tear = [
        (300, 330),
        (330, 360),
        (315, 390),
        (350, 430),
        (330, 450),
        (300, 410),
        (310, 380),
        (285, 350),
    ]
    draw.polygon(tear, fill=(240, 236, 228))
    draw.line([*tear, tear[0]], fill=(30, 30, 30), width=3)
    if spec.note:
        draw.text((40, 580), spec.note, font=_font(font_path, 30), fill=(200, 20, 20))
    return image


SCREENS = (
    Screen(
        "order_0107_zh",
        "订单详情",
        (
            "订单编号：SO20261118-0107",
            "下单时间：2026-11-18 20:14",
            "美利奴羊毛毛衣 M码 x1",
            "实付款：¥399.00",
            "状态：已发货",
        ),
    ),
    Screen(
        "order_0107_app",
        "我的订单",
        ("OrderNo.：SO20261118-0107", "Merino Wool Sweater M x1", "Paid ¥399.00", "Shipped"),
    ),
    Screen(
        "order_0215_zh",
        "订单详情",
        ("订单号 SO20261120-0215", "经典帆布鞋 40码 ×1", "合计 ¥199.00", "待发货"),
    ),
    Screen(
        "order_0042_en",
        "Order details",
        (
            "Order No.: SO20261102-0042",
            "Windbreaker Jacket M x1",
            "Cotton Crew-neck T-shirt M x2",
            "Total ¥497.00",
        ),
    ),
    Screen(
        "order_0451_en",
        "Order details",
        (
            "Order number: SO20261116-0451",
            "Lightweight Down Jacket S x1",
            "Total ¥479.20",
            "Status: Shipped",
        ),
    ),
    Screen(
        "order_0788_zh",
        "订单详情",
        ("订单编号：SO20261117-0788", "羊毛大衣 M码 x1", "实付款：¥1039.20"),
    ),
    Screen(
        "order_1177_zh",
        "订单详情",
        (
            "订单编号：SO20261119-1177",
            "防水冲锋衣 L码 x1",
            "修身牛仔裤 30码 x1",
            "实付款：¥1038.20",
        ),
    ),
    Screen(
        "order_1266_en",
        "My order",
        ("Order No.: SO20261114-1266", "Chelsea Boots 38 x1", "Total ¥769.00"),
    ),
    Screen(
        "order_0999_en",
        "Checkout",
        ("Order No. SO20261121-0999", "Leather Loafers 42 x1", "Awaiting payment ¥529.00"),
    ),
    Screen(
        "order_0318_en",
        "Order details",
        ("Order No.: SO20261025-0318", "Leather Backpack x1", "Total ¥799.00"),
    ),
    Screen(
        "order_unknown_zh",
        "订单详情",
        ("订单编号：SO20261111-7777", "纯棉圆领T恤 L码 x1", "实付款：¥99.00"),
    ),
    Screen(
        "parcel_sf_zh",
        "顺丰速运",
        ("运单号：SF1418827364509", "派送中", "预计送达：2026-11-22"),
        (30, 30, 30),
    ),
)
TAGS = (
    Tag("tag_jk3002", ("防风夹克", "Windbreaker Jacket", "JK-3002", "¥299.00"), angle=4),
    Tag("tag_sn5002", ("轻量跑鞋", "Running Shoes", "SN-5002", "¥459.00"), angle=-3),
    Tag("tag_ts1001", ("纯棉圆领T恤", "Crew-neck Tee", "TS-1001", "¥99.00"), angle=2),
    Tag("tag_jk3001", ("轻薄羽绒服", "Down Jacket", "JK-3001", "¥599.00"), angle=-5),
    Tag("tag_kn1202", ("羊绒开衫", "Cashmere Cardigan", "KN-1202", "¥699.00"), angle=3),
    Tag(
        "label_sn5001",
        ("LUMI 鹿米", "SKU: SN-5001", "尺码 Size: 42", "帆布 Canvas"),
        angle=-2,
        background=(120, 130, 150),
    ),
    Tag(
        "label_pt2001",
        ("LUMI 鹿米", "SKU: PT-2001", "W31 修身牛仔裤", "98% Cotton"),
        angle=3,
        background=(90, 100, 120),
    ),
    Tag(
        "label_hd1301",
        ("LUMI 鹿米", "SKU: HD-1301", "Fleece Hoodie", "Size M"),
        angle=-4,
        background=(150, 150, 150),
    ),
)
DAMAGES = (
    Damage("damage_shirt"),
    Damage("damage_shirt_note", note="收到就破了一个洞", colour=(180, 60, 60)),
    Damage("damage_jacket", colour=(60, 60, 60)),
)


def write_images(
    out: Path,
    seed: int,
    screens: Sequence[Screen],
    tags: Sequence[Tag],
    others: Mapping[str, Callable[[str], Image.Image]],
) -> None:
    """Draw a shop's screenshots, tags and other pictures (``name: draw(font_path)``) into
    ``out`` as optimised PNGs; the tags' tilt noise comes from ``seed``."""
    font = find_cjk_font()
    out.mkdir(exist_ok=True)
    rng = random.Random(seed)
    for screen in screens:
        draw_screen(screen, font).save(out / f"{screen.name}.png", optimize=True)
    for tag in tags:
        draw_tag(tag, font, rng).save(out / f"{tag.name}.png", optimize=True)
    for name, draw in others.items():
        draw(font).save(out / f"{name}.png", optimize=True)
    count = len(screens) + len(tags) + len(others)
    print(f"wrote {count} images to {out} with font {font}", file=sys.stderr)


def main() -> None:
    others = {d.name: (lambda font, d=d: draw_damage(d, font)) for d in DAMAGES}
    write_images(OUT, 20261121, SCREENS, TAGS, others)


if __name__ == "__main__":
    main()
