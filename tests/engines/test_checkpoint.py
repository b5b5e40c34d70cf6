"""Loading local checkpoint directories (the tiny models of conftest, saved to disk)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.engines._checkpoint import load_checkpoint
from core.errors import ModelLoadError


def test_a_causal_lm_loads_with_sdpa_in_eval_mode(tiny_llama_dir: Path) -> None:
    model, tokenizer = load_checkpoint(
        tiny_llama_dir, vision=False, dtype=torch.float32, device=torch.device("cpu")
    )
    assert not model.training and model.config._attn_implementation == "sdpa"
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert tokenizer("Hello", add_special_tokens=False)["input_ids"]


def test_a_qwen_vl_checkpoint_loads_with_its_vision_tower(tiny_qwen2_vl_dir: Path) -> None:
    model, _ = load_checkpoint(
        tiny_qwen2_vl_dir, vision=True, dtype=torch.float32, device=torch.device("cpu")
    )
    assert model.config.model_type == "qwen2_vl" and not model.training


@pytest.mark.parametrize(("vision", "what"), [(False, "checkpoint"), (True, "Qwen-VL checkpoint")])
def test_a_directory_without_a_model_is_a_load_error(
    tmp_path: Path, vision: bool, what: str
) -> None:
    with pytest.raises(ModelLoadError, match=f"cannot load the {what} {tmp_path}"):
        load_checkpoint(tmp_path, vision=vision, dtype=torch.float32, device=torch.device("cpu"))
