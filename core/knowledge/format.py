"""Pydantic schemas of the knowledge files, format 2 (the I/O edge); see docs/knowledge-format.md.

Each schema validates one file's raw data as produced by :mod:`core.knowledge.yamlsrc`
(scalars arrive as the strings the owner typed and are parsed here). Unknown keys are
errors. Checks that need another file or a line of their own (an order's SKU exists, a
variant names exactly the product's options, a promotion's scope exists) live in
:mod:`core.knowledge.loader`. Orders and promotions are in :mod:`core.knowledge.format_rules`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.knowledge.model import Localized, ProductStatus

FORMAT = 2


def _to_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float | Decimal) else value


Text = Annotated[
    str, BeforeValidator(_to_text), StringConstraints(strip_whitespace=True, min_length=1)
]
Sku = Annotated[
    str,
    BeforeValidator(_to_text),
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$"),
]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Id = Annotated[
    str,
    BeforeValidator(_to_text),
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedIn(Strict):
    """``{zh: ..., en: ...}``; a missing language uses the other one (§1)."""

    zh: Text | None = None
    en: Text | None = None

    @model_validator(mode="after")
    def _one_language_at_least(self) -> LocalizedIn:
        if self.zh is None and self.en is None:
            raise ValueError("write the text in zh, en or both")
        return self

    def value(self) -> Localized:
        zh = self.zh if self.zh is not None else self.en
        en = self.en if self.en is not None else self.zh
        assert zh is not None and en is not None  # the validator guarantees one
        return Localized(zh, en)


def _text_or_localized(value: Any) -> Any:
    # A plain text is the same in both languages ("42", "EU 42", "2.4 GHz only").
    if isinstance(value, str | int | float | Decimal):
        return {"zh": str(value), "en": str(value)}
    return value


LocalText = Annotated[LocalizedIn, BeforeValidator(_text_or_localized)]


class OrderNumbersIn(Strict):
    number_pattern: Text
    number_example: Text


class ShopFile(Strict):
    """``shop.yaml``: the shop profile."""

    format: int
    name: LocalText
    persona: LocalText | None = None
    languages: list[Annotated[str, StringConstraints(pattern=r"^(zh|en)$")]] = Field(
        default_factory=lambda: ["zh", "en"], min_length=1
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    currency_symbol: Text = "¥"
    timezone: Text = "Asia/Shanghai"
    hours: LocalText | None = None
    contact: dict[str, Text] = {}
    orders: OrderNumbersIn | None = None

    @field_validator("format")
    @classmethod
    def _format_two(cls, value: int) -> int:
        if value != FORMAT:
            raise ValueError(f"this kefu reads knowledge format {FORMAT}, not {value}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value


def _spec_shape(value: Any) -> Any:
    # Three ways to write a spec: a text, {zh, en}, or {label: {zh, en}, value: ...}.
    if isinstance(value, dict) and ("value" in value or "label" in value):
        return value
    return {"value": value}


class SpecIn(Strict):
    label: LocalText | None = None
    value: LocalText


Spec = Annotated[SpecIn, BeforeValidator(_spec_shape)]


class VariantIn(BaseModel):
    """One variant: its option values (any key the product's ``options`` names) and offer.

    Keys other than the fields below are option values; the loader checks they are exactly
    the product's options, so a typo such as ``prise:`` is reported, not taken as an option.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    sku: Sku | None = None
    price: Money | None = None
    sale_price: Money | None = None
    stock: int | None = Field(default=None, ge=0)
    restock: date | None = None

    def option_values(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ProductIn(Strict):
    sku: Sku
    name: LocalText
    description: LocalText | None = None
    brand: Text | None = None
    category: Text
    tags: list[Text] = []
    aliases: list[Text] = []
    options: list[Text] = []
    variants: list[VariantIn] = []
    price: Money | None = None
    sale_price: Money | None = None
    stock: int | None = Field(default=None, ge=0)
    restock: date | None = None
    specs: dict[str, Spec] = {}
    attributes: dict[str, Spec] = {}
    warranty: LocalText | None = None
    status: ProductStatus = ProductStatus.ACTIVE


class CatalogFile(Strict):
    categories: dict[str, LocalText] = Field(min_length=1)
    products: list[ProductIn] = Field(min_length=1)


class FaqIn(Strict):
    id: Id
    question: LocalText
    answer: LocalText
    paraphrases: list[Text] = []
    tags: list[Text] = []


class FaqFile(Strict):
    faq: list[FaqIn] = []
