"""YAML with line numbers: values keep the text the owner typed; errors name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.knowledge.yamlsrc import format_loc, parse_yaml, read_yaml, validation_errors

SOURCE = Path("shop/catalog.yaml")


def test_lines_are_recorded_for_every_value() -> None:
    doc = parse_yaml("a: 1\nitems:\n  - name: x\n    price: 9\n  - name: y\n", SOURCE)
    assert doc.lines[("a",)] == 1
    assert doc.lines[("items", 0, "price")] == 4
    assert doc.lines[("items", 1, "name")] == 5
    assert doc.line_of(("items", 1, "missing_field")) == 5  # nearest enclosing value


def test_scalars_stay_as_typed() -> None:
    doc = parse_yaml("user: 0042\nflag: no\nprice: 299.00\nempty: ~\nwhen: 2026-11-21\n", SOURCE)
    assert doc.data == {
        "user": "0042",
        "flag": "no",
        "price": "299.00",
        "empty": None,
        "when": "2026-11-21",
    }


def test_duplicate_key_is_an_error_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"catalog.yaml:3: duplicate key 'sku'"):
        parse_yaml("products:\n  - sku: A\n    sku: B\n", SOURCE)


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"catalog.yaml:2: invalid YAML"):
        parse_yaml("a: [1, 2\nb: {c: d\n", SOURCE)


def test_merge_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="merge keys"):
        parse_yaml("base: &b {x: 1}\nother:\n  <<: *b\n", SOURCE)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"x.yaml:1: cannot read file"):
        read_yaml(bad)


def test_pydantic_errors_map_back_to_lines() -> None:
    class Item(BaseModel):
        price: float

    class File(BaseModel):
        items: list[Item]

    doc = parse_yaml("items:\n  - price: 1\n  - price: cheap\n", SOURCE)
    with pytest.raises(ValidationError) as info:
        File.model_validate(doc.data)
    (message,) = validation_errors(doc, info.value)
    assert message.startswith("shop/catalog.yaml:3: items[1].price:")


def test_format_loc() -> None:
    assert format_loc(("products", 3, "price")) == "products[3].price"
    assert format_loc(()) == "(top level)"


def test_a_comma_in_an_unquoted_flow_text_keeps_the_text() -> None:
    doc = parse_yaml(
        "d: {zh: 耳机9折。, en: 10% off earbuds, headphones and speakers.}\n"
        "e: {en: a, b: }\n",  # written with ':' : a key (null), not a continuation
        Path("promotions.yaml"),
    )
    assert doc.data["d"] == {"zh": "耳机9折。", "en": "10% off earbuds, headphones and speakers."}
    assert doc.data["e"] == {"en": "a", "b": None}
