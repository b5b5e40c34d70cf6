"""Builds the configured engine; text-only engines get photos as OCR text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from core.engines.base import Engine
from core.engines.embedded import LoadProgress
from core.engines.ocr_wrapper import OcrTextEngine
from core.engines.options import EngineKind, EngineOptions
from core.engines.vlm import is_qwen_vl
from core.media.ocr import OcrReader


def local_model_sees_images(model: str) -> bool:
    """True when ``model`` is a local Qwen-VL checkpoint (decided from its config.json)."""
    if model == "embedded":
        return False
    config_file = Path(model) / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the engine reports a missing/broken checkpoint when it loads
    return is_qwen_vl(SimpleNamespace(model_type=config.get("model_type", "")))


def build_engine(
    settings: EngineOptions,
    *,
    ocr: OcrReader,
    progress: Callable[[str], None] | None = None,
    max_chars_per_image: int = 1500,
) -> Engine:
    """The engine ``settings`` describe.

    Args:
        settings: Engine options.
        ocr: Reader for photos when the model is text-only (the process's one reader,
            shared with the bot brains).
        progress: Receives human-readable loading steps.
        max_chars_per_image: OCR text kept per photo.
    """
    inner: Engine
    if settings.kind == EngineKind.OPENAI:
        from core.engines.openai_engine import OpenAIEngine

        inner = OpenAIEngine(settings, supports_images=settings.remote_supports_images)
        sees_images = settings.remote_supports_images
    else:
        from core.engines.transformers_engine import TransformersEngine

        def report(step: LoadProgress) -> None:
            if progress is not None:
                progress(f"{step.fraction:4.0%} {step.stage}: {step.detail}")

        inner = TransformersEngine.from_settings(settings, report)
        sees_images = local_model_sees_images(settings.model)
    if sees_images:
        return inner
    return OcrTextEngine(inner, ocr, max_chars_per_image=max_chars_per_image)
