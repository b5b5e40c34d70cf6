"""Qwen-VL through the real engine path: tiny random checkpoints saved to a local directory."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
import torch

from core.engines.base import ChatMessage, GenerationRequest, collect
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine, prepare_prompt
from core.engines.vlm import QwenVisionPrompter, VisionSpec, is_qwen_vl, vision_spec
from core.errors import ImageError, ModelLoadError
from core.model.turn import ImagePart, TextPart
from tests.engines.conftest import build_tiny_qwen2_vl, image_bytes, train_tokenizer

BUDGET = {"min_pixels": 4 * 28 * 28, "max_pixels": 64 * 28 * 28}
RED = image_bytes((1280, 720), (200, 30, 30))
NOISE = image_bytes((1280, 720), None, seed=3)


def photo(data: bytes, width: int = 1280, height: int = 720) -> ImagePart:
    return ImagePart.from_normalised(data, "image/png", width, height)


def ask_about(
    image: ImagePart, question: str = "What is in the photo?", **kwargs
) -> GenerationRequest:
    system = ChatMessage.text("system", "You are a helpful shop assistant for Acme Shoes.")
    user = ChatMessage("user", (image, TextPart(question)))
    return GenerationRequest((system, user), **kwargs)


@pytest.fixture
async def vl_engine(tiny_qwen2_vl_dir):
    engine = TransformersEngine(EngineOptions(model=str(tiny_qwen2_vl_dir), threads=1, **BUDGET))
    await engine.start()
    yield engine
    await engine.stop()


async def test_qwen2_vl_loads_from_a_directory_with_vision(vl_engine, tiny_qwen2_vl_dir):
    assert vl_engine.supports_images is True
    assert vl_engine.model_id == tiny_qwen2_vl_dir.name
    assert (await vl_engine.check_health()).ok


async def test_the_image_reaches_the_model(vl_engine):
    red = await collect(vl_engine.generate(ask_about(photo(RED), max_new_tokens=6, top_logprobs=5)))
    noise = await collect(
        vl_engine.generate(ask_about(photo(NOISE), max_new_tokens=6, top_logprobs=5))
    )
    first_red, first_noise = red[1][0], noise[1][0]
    assert first_red.top != first_noise.top  # different pixels, different next-token distribution
    assert red[2].usage.prompt_tokens == noise[2].usage.prompt_tokens  # same token budget


def test_visual_token_count_follows_the_pixel_budget(tiny_tokenizer):
    spec = VisionSpec(14, 2, 2, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    pad = tiny_tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for budget, size, expected in [
        ({"min_pixels": 4 * 28 * 28, "max_pixels": 64 * 28 * 28}, (1280, 720), 10 * 6),  # 280x168
        ({"min_pixels": 4 * 28 * 28, "max_pixels": 256 * 28 * 28}, (1280, 720), 21 * 12),  # 588x336
        ({"min_pixels": 16 * 28 * 28, "max_pixels": 64 * 28 * 28}, (28, 28), 4 * 4),  # upscaled
    ]:
        prompter = QwenVisionPrompter(spec, tiny_tokenizer, **budget)
        image = photo(image_bytes(size, (10, 200, 10)), *size)
        prompt = prepare_prompt(tiny_tokenizer, ask_about(image).messages, prompter)
        count = sum(1 for token in prompt.ids if token == pad)
        assert prompt.vision is not None
        grid = prompt.vision.image_grid_thw[0]
        assert count == int(grid.prod()) // 4 == prompter.tokens_for(grid)
        assert budget["min_pixels"] // (28 * 28) <= count <= budget["max_pixels"] // (28 * 28)
        assert count == expected
        assert prompt.vision.pixel_values.shape[0] == int(grid.prod())


async def test_engine_matches_transformers_generate(vl_engine, tiny_qwen2_vl_dir, tiny_tokenizer):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(tiny_qwen2_vl_dir)).eval()
    request = ask_about(photo(NOISE), max_new_tokens=10)
    prompter = QwenVisionPrompter(vision_spec(model.config), tiny_tokenizer, **BUDGET)
    prompt = prepare_prompt(tiny_tokenizer, request.messages, prompter)
    assert prompt.prefix_len > 0  # the system prompt KV is cached and reused
    ids = torch.tensor([prompt.ids])
    config = copy.deepcopy(model.generation_config)
    config.eos_token_id, config.do_sample = None, False
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=prompt.vision.pixel_values,
        image_grid_thw=prompt.vision.image_grid_thw,
        mm_token_type_ids=(ids == model.config.image_token_id).int(),
        generation_config=config,
        max_new_tokens=10,
        min_new_tokens=10,
        pad_token_id=0,
    )
    expected = tiny_tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).rstrip(
        "\ufffd"
    )
    for _ in range(2):  # second run reuses the cached system-prompt KV
        text, _, _ = await collect(vl_engine.generate(request))
        assert text == expected
    assert vl_engine.scheduler.prefix_cache.hits >= 1


async def test_vision_requests_are_batched_and_match_sequential(vl_engine):
    images = [photo(RED), photo(NOISE), photo(image_bytes((640, 480), None, seed=9), 640, 480)]
    requests = [
        ask_about(image, f"Question {i}?", max_new_tokens=8) for i, image in enumerate(images)
    ]
    alone = [(await collect(vl_engine.generate(r)))[0] for r in requests]
    together = await asyncio.gather(*(collect(vl_engine.generate(r)) for r in requests))
    assert [t[0] for t in together] == alone
    assert vl_engine.scheduler.max_rows_seen >= 2


async def test_text_only_turns_work_on_a_vision_model(vl_engine):
    request = GenerationRequest((ChatMessage.text("user", "Hello"),), max_new_tokens=4)
    _, _, final = await collect(vl_engine.generate(request))
    assert final.usage.completion_tokens == 4


async def test_abort_frees_a_vision_row(vl_engine):
    request = ask_about(photo(RED), max_new_tokens=400)
    consumer = asyncio.create_task(collect(vl_engine.generate(request)))
    async with asyncio.timeout(20):
        while vl_engine.scheduler.steps < 2:
            await asyncio.sleep(0.002)
    await vl_engine.abort(request.request_id)
    _, _, final = await asyncio.wait_for(consumer, 5)
    assert final.finish_reason == "abort"
    async with asyncio.timeout(10):
        while vl_engine.scheduler.running:
            await asyncio.sleep(0.005)


async def test_undecodable_image_is_an_image_error(vl_engine):
    broken = ImagePart.from_normalised(b"not an image", "image/png", 10, 10)
    with pytest.raises(ImageError):
        await collect(vl_engine.generate(ask_about(broken)))


@pytest.mark.parametrize("model_type", ["qwen2_5_vl", "qwen3_vl"])
async def test_other_qwen_vl_families(tmp_path, tiny_tokenizer, model_type):
    model = build_tiny_qwen2_vl(tiny_tokenizer, model_type=model_type)
    assert is_qwen_vl(model.config)
    model.save_pretrained(str(tmp_path))
    tiny_tokenizer.save_pretrained(str(tmp_path))
    engine = TransformersEngine(EngineOptions(model=str(tmp_path), threads=1, **BUDGET))
    await engine.start()
    try:
        assert engine.supports_images
        red = await collect(
            engine.generate(ask_about(photo(RED), max_new_tokens=4, top_logprobs=5))
        )
        noise = await collect(
            engine.generate(ask_about(photo(NOISE), max_new_tokens=4, top_logprobs=5))
        )
        assert red[1][0].top != noise[1][0].top
        spec = engine._loaded.vision.spec
        assert spec.pixels_per_token == (32 if model_type == "qwen3_vl" else 28)
    finally:
        await engine.stop()


def test_preprocessor_config_overrides_the_defaults(tmp_path, tiny_tokenizer):
    model = build_tiny_qwen2_vl(tiny_tokenizer)
    assert vision_spec(model.config).image_mean[0] == pytest.approx(0.4814, abs=1e-3)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.1, 0.2, 0.3]}))
    assert vision_spec(model.config, tmp_path).image_mean == (0.1, 0.2, 0.3)


def test_a_tokenizer_without_vision_tokens_is_refused():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    plain = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    with pytest.raises(ModelLoadError, match="image_pad"):
        QwenVisionPrompter(
            VisionSpec(14, 2, 2, (0.5,) * 3, (0.5,) * 3), plain, min_pixels=1, max_pixels=10**6
        )
    assert train_tokenizer().convert_tokens_to_ids("<|image_pad|>") is not None
