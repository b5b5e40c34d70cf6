"""Checks Bot API calls and updates against aiogram's models (generated from Telegram's docs).

Runs with the peer virtualenv's Python (``.venv-peers/telegram``), never kefu's. Reads a JSON
file ``{"calls": [{"method": ..., "params": {...}}], "updates": [{...}]}`` and prints one JSON
line ``{"calls": N, "updates": M, "problems": [...]}``. A problem is a method aiogram does not
know, a parameter or field it does not know (its models keep unknown names aside instead of
refusing them, so they are looked for), or a value its models refuse.

Usage: python -I aiogram_check.py FILE
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aiogram import methods
from aiogram.types import Update
from pydantic import BaseModel, ValidationError


def method_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for name in dir(methods):
        model = getattr(methods, name)
        api_name = getattr(model, "__api_method__", None)
        if isinstance(api_name, str):
            models[api_name] = model
    return models


def unknown_names(value: Any, where: str) -> list[str]:
    """Names aiogram's models did not declare, anywhere inside a validated object."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{where}.{name}" for name in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += unknown_names(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += unknown_names(item, f"{where}[{index}]")
    return found


def check_call(
    models: dict[str, type[BaseModel]], method: str, params: dict[str, Any]
) -> list[str]:
    model = models.get(method)
    if model is None:
        return [f"{method}: aiogram knows no such method"]
    try:
        validated = model.model_validate(params)
    except ValidationError as exc:
        return [f"{method}: {error['loc']}: {error['msg']}" for error in exc.errors()]
    return [f"{method}: unknown parameter {name}" for name in unknown_names(validated, method)]


def check_update(update: dict[str, Any]) -> list[str]:
    try:
        validated = Update.model_validate(update)
    except ValidationError as exc:
        return [f"update: {error['loc']}: {error['msg']}" for error in exc.errors()]
    kinds = [name for name in Update.model_fields if name != "update_id"]
    if not any(getattr(validated, name) is not None for name in kinds):
        return [f"update {update.get('update_id')}: carries no kind aiogram knows"]
    return [f"unknown field {name}" for name in unknown_names(validated, "update")]


def main(path: str) -> None:
    with open(path, encoding="utf-8") as file:
        recorded = json.load(file)
    models = method_models()
    problems: list[str] = []
    for call in recorded["calls"]:
        problems += check_call(models, call["method"], call["params"])
    for update in recorded["updates"]:
        problems += check_update(update)
    report = {"calls": len(recorded["calls"]), "updates": len(recorded["updates"]),
              "problems": problems}  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
