"""Loading a local transformers checkpoint directory (a causal LM or a Qwen-VL model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.errors import ModelLoadError


def load_checkpoint(
    path: Path, *, vision: bool, dtype: torch.dtype, device: torch.device
) -> tuple[Any, Any]:
    """Load the model in ``path`` and its tokenizer, with sdpa attention, ready for inference.

    Args:
        vision: A Qwen-VL checkpoint (loaded without its processor, so no torchvision is
            needed) instead of a causal LM.

    Raises:
        ModelLoadError: the checkpoint cannot be loaded.
    """
    what = "Qwen-VL checkpoint" if vision else "checkpoint"
    try:
        import transformers

        auto = (
            transformers.AutoModelForImageTextToText
            if vision
            else transformers.AutoModelForCausalLM
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        model: Any = auto.from_pretrained(str(path), dtype=dtype, attn_implementation="sdpa")
    except Exception as exc:
        raise ModelLoadError(f"cannot load the {what} {path}: {exc}") from exc
    return model.to(device).eval(), tokenizer
