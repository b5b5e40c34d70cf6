"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: images as real vision input.

``Qwen2VLProcessor`` needs torchvision, which kefu does not install. This module uses the
PIL image processor (``Qwen2VLImageProcessorPil``, shared by all three families; Qwen3-VL
only changes the patch size and normalisation) and the tokenizer directly: each image
becomes ``<|vision_start|>`` + N × ``<|image_pad|>`` + ``<|vision_end|>`` in the prompt, where
N = grid_t·grid_h·grid_w / merge_size², and its ``pixel_values`` / ``image_grid_thw`` go to
the model's forward pass. ``min_pixels``/``max_pixels`` bound N (the visual-token budget).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from core.engines._runner import VisionInputs
from core.errors import ImageError, ModelLoadError
from core.model.turn import ImagePart

QWEN_VL_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl"})
IMAGE_TOKEN = "<|image_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


def is_qwen_vl(config: Any) -> bool:
    """True for the Qwen vision-language families kefu feeds images to."""
    return getattr(config, "model_type", "") in QWEN_VL_MODEL_TYPES


@dataclass(frozen=True, slots=True)
class VisionSpec:
    """Patch geometry and normalisation of a Qwen-VL vision tower."""

    patch_size: int
    merge_size: int
    temporal_patch_size: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    @property
    def pixels_per_token(self) -> int:
        """Side of the square of pixels one visual token covers (28 for Qwen2/2.5, 32 for Qwen3)."""
        return self.patch_size * self.merge_size


def vision_spec(config: Any, checkpoint: Path | None = None) -> VisionSpec:
    """Read the vision geometry from the model config, preferring ``preprocessor_config.json``."""
    vision = config.vision_config
    qwen3 = getattr(config, "model_type", "") == "qwen3_vl"
    default_norm = HALF if qwen3 else None
    stored: dict[str, Any] = {}
    if checkpoint is not None and (checkpoint / "preprocessor_config.json").is_file():
        stored = json.loads((checkpoint / "preprocessor_config.json").read_text("utf-8"))
    return VisionSpec(
        patch_size=int(stored.get("patch_size", vision.patch_size)),
        merge_size=int(stored.get("merge_size", vision.spatial_merge_size)),
        temporal_patch_size=int(stored.get("temporal_patch_size", vision.temporal_patch_size)),
        image_mean=tuple(stored.get("image_mean", default_norm or CLIP_MEAN)),
        image_std=tuple(stored.get("image_std", default_norm or CLIP_STD)),
    )


class QwenVisionPrompter:
    """Turns normalised :class:`ImagePart` objects into vision inputs and prompt text.

    Args:
        spec: The vision tower's geometry.
        tokenizer: The model's tokenizer; must know the three vision special tokens.
        min_pixels: Lower bound on an image's resized area (``EngineOptions.min_pixels``).
        max_pixels: Upper bound on an image's resized area (``EngineOptions.max_pixels``).

    Raises:
        ModelLoadError: the tokenizer lacks the vision special tokens.
    """

    def __init__(
        self, spec: VisionSpec, tokenizer: Any, *, min_pixels: int, max_pixels: int
    ) -> None:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil,
        )

        unknown = tokenizer.unk_token_id
        for token in (IMAGE_TOKEN, VISION_START, VISION_END):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is None or token_id == unknown:
                raise ModelLoadError(f"the tokenizer has no {token} token; not a Qwen-VL tokenizer")
        self.spec = spec
        self.tokenizer = tokenizer
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self._processor = Qwen2VLImageProcessorPil(
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            patch_size=spec.patch_size,
            merge_size=spec.merge_size,
            temporal_patch_size=spec.temporal_patch_size,
            image_mean=list(spec.image_mean),
            image_std=list(spec.image_std),
        )

    def process(self, images: Sequence[ImagePart]) -> VisionInputs:
        """Resize within the pixel budget, normalise and patchify ``images``.

        Raises:
            ImageError: an image cannot be decoded.
        """
        pictures = [_decode(image) for image in images]
        features = self._processor(images=pictures, return_tensors="pt")
        return VisionInputs(
            pixel_values=features["pixel_values"],
            image_grid_thw=features["image_grid_thw"].to(torch.long),
        )

    def tokens_for(self, grid_thw: torch.Tensor) -> int:
        """Number of ``<|image_pad|>`` tokens an image with this grid takes in the prompt."""
        t, h, w = (int(v) for v in grid_thw.tolist())
        return t * h * w // (self.spec.merge_size**2)

    def image_block(self, grid_thw: torch.Tensor) -> str:
        """The prompt text standing for one image."""
        return VISION_START + IMAGE_TOKEN * self.tokens_for(grid_thw) + VISION_END


def _decode(image: ImagePart) -> Image.Image:
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            return opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"cannot decode image {image.sha256[:12]}: {exc}") from exc
