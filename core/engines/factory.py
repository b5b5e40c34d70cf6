"""Builds the configured engine; text-only engines get photos as OCR text."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from core.engines.base import Engine
from core.engines.embedded import LoadProgress
from core.engines.ocr_wrapper import OcrTextEngine
from core.engines.options import EngineKind, EngineOptions
from core.media.ocr import OcrReader

log = logging.getLogger(__name__)


def local_model_sees_images(model: str) -> bool:
    """True when ``model`` is a local Qwen-VL checkpoint (decided from its config.json)."""
    if model == "embedded":
        return False
    from core.engines.vlm import is_qwen_vl  # imports torch: only for checkpoint directories

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
    kind = resolve_kind(settings)
    if kind == EngineKind.LLAMACPP:
        from core.engines.llamacpp_engine import LlamaCppEngine

        inner = LlamaCppEngine(settings, _reporter(progress))
        sees_images = False
    elif kind == EngineKind.OPENAI:
        from core.engines.openai_engine import OpenAIEngine

        inner = OpenAIEngine(settings, supports_images=settings.remote_supports_images)
        sees_images = settings.remote_supports_images
    else:
        # torch's OpenMP threads stall when another process holds a core if they spin (3-10x
        # slower on a shared 2-core host), so they wait passively. Not for llama.cpp: there
        # OpenMP's default (a short spin, then sleep) is 2x faster at one chat on a quiet host.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from core.engines.transformers_engine import TransformersEngine

        inner = TransformersEngine.from_settings(settings, _reporter(progress))
        sees_images = local_model_sees_images(settings.model)
    if sees_images:
        return inner
    return OcrTextEngine(inner, ocr, max_chars_per_image=max_chars_per_image)


def _reporter(progress: Callable[[str], None] | None) -> Callable[[LoadProgress], None]:
    def report(step: LoadProgress) -> None:
        if progress is not None:
            progress(f"{step.fraction:4.0%} {step.stage}: {step.detail}")

    return report


def resolve_kind(settings: EngineOptions) -> EngineKind:
    """The engine ``settings.kind`` means; ``auto`` picks the fastest that can serve the model.

    A GGUF (``embedded`` or a ``.gguf`` file) on CPU goes to llama.cpp when its prebuilt
    library is installed: measured 2-9x faster than transformers there through the API
    (BENCHMARKS.md). Checkpoint directories, Qwen-VL and CUDA stay on transformers.
    """
    if settings.kind != EngineKind.AUTO:
        return settings.kind
    is_gguf = settings.model == "embedded" or settings.model.lower().endswith(".gguf")
    if not is_gguf or settings.device == "cuda" or _cuda_wanted(settings):
        return EngineKind.TRANSFORMERS
    from core.engines import _llamacpp

    if _llamacpp.available():
        return EngineKind.LLAMACPP
    log.warning("llama.cpp library not installed (%s); using transformers", _llamacpp.INSTALL_HINT)
    return EngineKind.TRANSFORMERS


def _cuda_wanted(settings: EngineOptions) -> bool:
    """``device: auto`` means CUDA when a GPU is present; checked without importing torch
    (seconds and hundreds of MB that the llama.cpp path does not need)."""
    if settings.device != "auto" or settings.model.lower().endswith(".gguf"):
        return False
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/proc/driver/nvidia/version").exists()
