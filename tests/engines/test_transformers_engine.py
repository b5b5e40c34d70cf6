"""TransformersEngine end to end on a tiny local Llama checkpoint (loaded from a directory)."""

from __future__ import annotations

import asyncio
import copy
import os

import pytest
import torch

from core.engines.base import ChatMessage, Engine, GenerationRequest, collect
from core.engines.embedded import LoadProgress
from core.engines.options import EngineOptions
from core.engines.transformers_engine import (
    TransformersEngine,
    _eos_ids,
    default_threads,
    prepare_prompt,
    resolve_device,
    resolve_dtype,
)
from core.errors import EngineError, InvalidInputError, ModelLoadError
from core.model.turn import ImagePart, TextPart
from tests.engines.conftest import image_bytes

SYSTEM = ChatMessage.text("system", "You are a helpful shop assistant for Acme Shoes.")


def ask(question: str, **kwargs) -> GenerationRequest:
    return GenerationRequest((SYSTEM, ChatMessage.text("user", question)), **kwargs)


def settings_for(path, **overrides) -> EngineOptions:
    values = {"model": str(path), "threads": 1, "max_wait_ms": 10.0, "max_batch_size": 8}
    values.update(overrides)
    return EngineOptions(**values)


def greedy_reference(model, tokenizer, request: GenerationRequest, new_tokens: int) -> str:
    prompt = prepare_prompt(tokenizer, request.messages, None)
    config = copy.deepcopy(model.generation_config)
    config.eos_token_id, config.do_sample = None, False
    ids = torch.tensor([prompt.ids])
    out = model.generate(
        ids,
        generation_config=config,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        attention_mask=torch.ones_like(ids),
        pad_token_id=0,
    )
    return tokenizer.decode(out[0, len(prompt.ids) :], skip_special_tokens=True).rstrip("\ufffd")


@pytest.fixture
async def engine(tiny_llama_dir):
    stages: list[LoadProgress] = []
    engine = TransformersEngine(settings_for(tiny_llama_dir), progress=stages.append)
    await engine.start()
    engine.stages = stages  # type: ignore[attr-defined]
    yield engine
    await engine.stop()


async def test_loads_a_local_checkpoint_and_answers_like_generate(
    engine, tiny_llama_dir, tiny_llama, tiny_tokenizer
):
    assert isinstance(engine, Engine)
    assert engine.model_id == tiny_llama_dir.name
    assert engine.supports_images is False
    assert (engine.device, engine.dtype) == (torch.device("cpu"), torch.float32)
    assert engine.stages[-1].stage == "ready"
    health = await engine.check_health()
    assert health.ok and health.model == tiny_llama_dir.name
    request = ask("Where is my order SO20260001?", max_new_tokens=12)
    text, logprobs, final = await collect(engine.generate(request))
    assert text == greedy_reference(tiny_llama, tiny_tokenizer, request, 12)
    assert len(logprobs) == 12 and all(lp.logprob <= 0 for lp in logprobs)
    assert final.finish_reason == "length" and final.usage.completion_tokens == 12


async def test_start_is_idempotent(engine):
    scheduler = engine.scheduler
    await engine.start()
    assert engine.scheduler is scheduler


async def test_concurrent_generate_calls_share_batches(engine, tiny_llama, tiny_tokenizer):
    requests = [
        ask(f"Question {i}: what do the red shoes cost?", max_new_tokens=8) for i in range(5)
    ]
    results = await asyncio.gather(*(collect(engine.generate(r)) for r in requests))
    assert engine.scheduler.max_rows_seen >= 2
    for request, (text, _, _) in zip(requests, results, strict=True):
        assert text == greedy_reference(tiny_llama, tiny_tokenizer, request, 8)


async def test_consumer_leaving_early_frees_its_slot(engine):
    stream = engine.generate(ask("Tell me everything about shipping.", max_new_tokens=300))
    async for _ in stream:
        break
    await stream.aclose()
    async with asyncio.timeout(10):
        while engine.scheduler.running:
            await asyncio.sleep(0.005)
    _, _, final = await collect(engine.generate(ask("Hi", max_new_tokens=3)))
    assert final.finish_reason == "length"


async def test_abort_ends_the_stream_at_once(engine):
    request = ask("Tell me everything about shipping.", max_new_tokens=300)
    consumer = asyncio.create_task(collect(engine.generate(request)))
    async with asyncio.timeout(10):
        while engine.scheduler.steps < 3:
            await asyncio.sleep(0.002)
    await engine.abort(request.request_id)
    _, _, final = await asyncio.wait_for(consumer, 5)
    assert final.finish_reason == "abort"
    assert final.usage is not None and final.usage.completion_tokens < 300
    await engine.abort("req-unknown")  # unknown ids are ignored


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_logprobs": 21}, "top_logprobs"),
    ],
)
async def test_invalid_requests_are_refused(engine, changes, message):
    with pytest.raises(InvalidInputError, match=message):
        await collect(engine.generate(ask("Hi", **changes)))


async def test_empty_and_too_long_prompts_are_refused(engine):
    with pytest.raises(InvalidInputError):
        await collect(engine.generate(GenerationRequest(())))
    with pytest.raises(InvalidInputError) as caught:
        await collect(engine.generate(ask("shoes " * 600)))
    assert caught.value.code == "prompt_too_long"


async def test_images_to_a_text_model_are_left_out(engine, tiny_tokenizer):
    image = ImagePart.from_normalised(image_bytes((32, 32), (255, 0, 0)), "image/png", 32, 32)
    message = ChatMessage("user", (image, TextPart("What is this?")))
    prompt = prepare_prompt(tiny_tokenizer, (message,), None)
    assert prompt.vision is None
    assert "<|image_pad|>" not in tiny_tokenizer.decode(prompt.ids)
    _, _, final = await collect(engine.generate(GenerationRequest((message,), max_new_tokens=2)))
    assert final.finish_reason == "length"


async def test_closed_or_unstarted_engine_refuses(tiny_llama_dir):
    engine = TransformersEngine(settings_for(tiny_llama_dir))
    assert not (await engine.check_health()).ok
    with pytest.raises(EngineError, match="not started"):
        await collect(engine.generate(ask("Hi")))
    await engine.start()
    await engine.stop()
    assert not (await engine.check_health()).ok
    with pytest.raises(EngineError):
        await collect(engine.generate(ask("Hi")))


async def test_bfloat16_setting_is_honoured(tiny_llama_dir):
    engine = TransformersEngine(settings_for(tiny_llama_dir, dtype="bfloat16"))
    await engine.start()
    try:
        assert engine.dtype == torch.bfloat16
        assert next(engine.scheduler.runner.model.parameters()).dtype == torch.bfloat16
        _, logprobs, final = await collect(engine.generate(ask("Hi", max_new_tokens=4)))
        assert final.usage.completion_tokens == 4 and len(logprobs) == 4
    finally:
        await engine.stop()


async def test_bad_model_paths_raise_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        await TransformersEngine(settings_for(tmp_path / "missing")).start()
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError):
        await TransformersEngine(settings_for(tmp_path)).start()


def test_device_dtype_and_threads_resolution(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ModelLoadError, match="cuda"):
        resolve_device("cuda")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert default_threads(3) == 3
    assert default_threads(None) >= 1
    assert default_threads(None, cores=2) == 1  # one core stays with the event loop
    assert default_threads(None, cores=8) == 7
    assert default_threads(None, cores=1) == 1


def test_eos_ids_include_chatml_end(tiny_llama, tiny_tokenizer):
    ids = _eos_ids(tiny_llama, tiny_tokenizer)
    assert tiny_tokenizer.convert_tokens_to_ids("<|im_end|>") in ids


def test_system_prefix_is_marked_shareable(tiny_tokenizer):
    prompt = prepare_prompt(tiny_tokenizer, ask("Hi").messages, None)
    system_only = tiny_tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM.content_text}], tokenize=False
    )
    assert tiny_tokenizer.decode(prompt.prefix) == system_only
    assert prompt.suffix and prompt.prefix_len > 0


async def test_from_model_serves_an_in_memory_model(tiny_llama, tiny_tokenizer):
    model = copy.deepcopy(tiny_llama)
    engine = TransformersEngine.from_model(
        model, tiny_tokenizer, EngineOptions(threads=1), model_id="mem"
    )
    await engine.start()
    try:
        assert engine.model_id == "mem" and not engine.supports_images
        request = ask("Hi there", max_new_tokens=5)
        text, _, _ = await collect(engine.generate(request))
        assert text == greedy_reference(tiny_llama, tiny_tokenizer, request, 5)
    finally:
        await engine.stop()


def test_kernel_cache_limit_respects_the_operator(monkeypatch):
    from core.engines.transformers_engine import limit_kernel_cache

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    limit_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "8"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    limit_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"
