"""What the engines are built from: plain options (``main.py`` fills them from settings)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EngineKind(StrEnum):
    AUTO = "auto"  # llama.cpp for a GGUF on CPU when its library is installed, else transformers
    LLAMACPP = "llamacpp"  # a GGUF in-process on llama.cpp (the fast CPU path)
    TRANSFORMERS = "transformers"  # a local model: the embedded default or a checkpoint
    OPENAI = "openai"  # any OpenAI-compatible server


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Which engine answers, and how.

    Attributes:
        kind: ``auto`` (the default), llama.cpp, transformers, or a remote server.
        model: ``embedded`` for the SmolLM2 GGUF, a ``.gguf`` file, or a checkpoint directory.
        device: ``auto`` picks CUDA bf16 when available, else ``cpu``; or ``cuda``.
        dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        cache_dir: Where the dequantised embedded model is cached.
        max_batch_size: Most requests decoded together.
        max_wait_ms: How long the batcher waits to fill a batch.
        max_new_tokens: Default answer length.
        min_pixels / max_pixels: Visual-token budget for Qwen-VL models.
        threads: CPU threads for the model (None: the engine's default: every core for
            llama.cpp, one less than the cores for torch).
        context_tokens: KV-cache cells shared by the running requests (llama.cpp).
        stream_pace_ms: Longest wait before a decode step for the streams to take the last
            step's tokens (llama.cpp; 0: no wait).
        base_url / api_key / remote_model: For a remote server.
        remote_supports_images: The remote model sees images (else photos are read by OCR).
        timeout_s: Time limit of one remote request.
    """

    kind: EngineKind = EngineKind.AUTO
    model: str = "embedded"
    device: str = "auto"
    dtype: str = "auto"
    cache_dir: str = ".kefu/models"
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    max_new_tokens: int = 256
    min_pixels: int = 256 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    threads: int | None = None
    context_tokens: int = 16384
    stream_pace_ms: float = 4.0
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str | None = None
    remote_model: str = "kefu"
    remote_supports_images: bool = True
    timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """Reading photos for text-only models (RapidOCR, Chinese and English).

    Attributes:
        cache_size: Photos whose text is remembered (by hash).
        min_confidence: Lines read with less confidence are dropped.
        threads: ONNX Runtime threads (None: its default).
        max_chars_per_image: OCR text kept per photo for the model.
    """

    cache_size: int = 128
    min_confidence: float = 0.5
    threads: int | None = None
    max_chars_per_image: int = 1500
