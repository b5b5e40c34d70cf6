"""Tiny random models for fast engine tests.

A 2-layer Llama and a tiny Qwen2-VL (small vision tower), each with a byte-level BPE
tokenizer trained here with the ``tokenizers`` library (ChatML template, Qwen vision
special tokens). They are saved to a temporary directory once per session and loaded by
the real engine path from there, like a user's local checkpoint.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
]
CORPUS = [
    "Hello! How can I help you with your order today?",
    "Shipping takes three to five days. Returns are accepted within thirty days.",
    "Your order SO20260001 has shipped and will arrive on Friday.",
    "The red shoes cost 49 dollars; the blue ones cost 59 dollars.",
    "你好，请问有什么可以帮您？运费是十元，三到五天送达。",
    "谢谢您的耐心等待，订单已经发货。😀 🎉",
    "system user assistant You are a helpful shop assistant for Acme Shoes.",
]


def train_tokenizer(vocab_size: int = 420):
    """A byte-level BPE tokenizer with the ChatML and Qwen vision special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_tiny_llama(tokenizer, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.2,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    _spread_logits(model)
    return model.eval()


def _spread_logits(model) -> None:
    """Random init gives near-uniform logits, where greedy ties would make tests flaky;
    larger output weights give clear winners (and still varied text)."""
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(8.0)


def build_tiny_qwen2_vl(tokenizer, seed: int = 0, model_type: str = "qwen2_vl"):
    """A tiny random Qwen2-VL / Qwen2.5-VL / Qwen3-VL with a small vision tower."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
    )

    torch.manual_seed(seed)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 3, 3],
        },
        "pad_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "initializer_range": 0.2,
        "tie_word_embeddings": False,
    }
    common = {
        "image_token_id": ids["<|image_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "video_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
    }
    if model_type == "qwen3_vl":
        text.pop("rope_parameters")
        text["head_dim"] = 16
        text["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 3, 3],
            "mrope_interleaved": True,
        }
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        }
        config = Qwen3VLConfig(text_config=text, vision_config=vision, **common)
        model = Qwen3VLForConditionalGeneration(config)
    elif model_type == "qwen2_5_vl":
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        }
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
        model = Qwen2_5_VLForConditionalGeneration(config)
    else:
        vision = {
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }
        config = Qwen2VLConfig(text_config=text, vision_config=vision, **common)
        model = Qwen2VLForConditionalGeneration(config)
    _spread_logits(model)
    return model.eval()


def image_bytes(
    size: tuple[int, int], colour: tuple[int, int, int] | None = None, seed: int = 0
) -> bytes:
    """A PNG: a flat colour, or seeded noise when ``colour`` is None."""
    if colour is not None:
        picture = Image.new("RGB", size, colour)
    else:
        generator = torch.Generator().manual_seed(seed)
        pixels = torch.randint(
            0, 256, (size[1], size[0], 3), generator=generator, dtype=torch.uint8
        )
        picture = Image.fromarray(pixels.numpy(), "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return train_tokenizer()


@pytest.fixture(scope="session")
def tiny_llama(tiny_tokenizer):
    return build_tiny_llama(tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_tokenizer, tiny_llama) -> Path:
    """The tiny Llama saved as a local checkpoint directory."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama.save_pretrained(str(path))
    tiny_tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_qwen2_vl_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    path = tmp_path_factory.mktemp("tiny-qwen2-vl")
    build_tiny_qwen2_vl(tiny_tokenizer).save_pretrained(str(path))
    tiny_tokenizer.save_pretrained(str(path))
    return path
