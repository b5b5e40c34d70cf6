"""The llama.cpp engine on the real embedded GGUF (loads in about a second)."""

from __future__ import annotations

import asyncio
import math
from contextlib import aclosing

import pytest

from core.engines import _llamacpp
from core.engines.base import (
    ChatMessage,
    GenerationChunk,
    GenerationRequest,
    TokenLogprob,
    collect,
)
from core.engines.factory import resolve_kind
from core.engines.llamacpp_engine import ChatTemplate, LlamaCppEngine, gguf_path, prepare_prompt
from core.engines.options import EngineKind, EngineOptions
from core.errors import EngineError, InvalidInputError, ModelLoadError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _llamacpp.available(), reason="ik-llama-cpp-python not installed"),
]
SYSTEM = (
    "You are the assistant of Acme Shoes. Shipping takes 3 to 5 working days and is free "
    "above 50 euros. Returns are accepted within 30 days."
)


async def answer(
    engine: LlamaCppEngine, request: GenerationRequest
) -> tuple[str, list[TokenLogprob], GenerationChunk]:
    return await collect(engine.generate(request))


def ask(question: str, **changes: object) -> GenerationRequest:
    messages = (ChatMessage.text("system", SYSTEM), ChatMessage.text("user", question))
    fields: dict[str, object] = {"max_new_tokens": 24, **changes}
    return GenerationRequest(messages, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def engine():
    engine = LlamaCppEngine(EngineOptions(kind=EngineKind.LLAMACPP, threads=2, context_tokens=4096))
    await engine.start()
    yield engine
    await engine.stop()


async def test_streams_an_answer_with_one_logprob_per_token(engine):
    text, logprobs, final = await answer(engine, ask("How long does shipping take?"))
    assert text.strip()
    assert final.finish_reason in {"stop", "length"}
    assert final.usage is not None and final.usage.prompt_tokens > 40
    assert len(logprobs) == final.usage.completion_tokens
    assert all(lp.logprob <= 0 and not math.isnan(lp.logprob) for lp in logprobs)
    assert "".join(lp.token for lp in logprobs).strip() == text.strip()


async def test_top_logprobs_are_the_models_distribution(engine):
    _, logprobs, _ = await answer(engine, ask("Is shipping free?", top_logprobs=5))
    for lp in logprobs:
        assert len(lp.top) == 5
        values = [value for _, value in lp.top]
        assert values == sorted(values, reverse=True)
        assert sum(math.exp(v) for v in values) <= 1.0 + 1e-4
        # greedy: the chosen token is the most likely one
        assert lp.top[0] == (lp.token, pytest.approx(lp.logprob, abs=1e-5))


async def test_concurrent_answers_match_answers_alone(engine):
    questions = ["Is shipping free?", "Can I return shoes?", "Do you ship to Norway?"]
    alone = [(await answer(engine, ask(q)))[0] for q in questions]
    together = await asyncio.gather(*(answer(engine, ask(q)) for q in questions * 3))
    texts = [result[0] for result in together]
    # the shared system prompt and batching change nothing in greedy answers; the first
    # words are compared because batched float sums may differ in the last bits
    for index, text in enumerate(texts):
        assert text[:20] == alone[index % 3][:20]
    health = await engine.check_health()
    assert health.ok and "running 0" in health.detail and "hits" in health.detail
    assert engine.scheduler is not None and engine.scheduler.prefix_hits >= 8


async def test_abort_ends_the_stream_at_once(engine):
    request = ask("Tell me everything about shipping.", max_new_tokens=200)
    chunks = []
    async for chunk in engine.generate(request):
        chunks.append(chunk)
        if len(chunks) == 1:
            await engine.abort(request.request_id)
    assert chunks[-1].finish_reason == "abort"
    assert len(chunks) <= 3
    for _ in range(500):
        if engine.scheduler is not None and engine.scheduler.running == 0:
            break
        await asyncio.sleep(0.02)
    assert engine.scheduler is not None and engine.scheduler.running == 0


async def test_consumer_leaving_early_frees_its_row(engine):
    async with aclosing(engine.generate(ask("Hello", max_new_tokens=200))) as stream:  # type: ignore[type-var]
        async for _ in stream:
            break
    for _ in range(500):  # the row goes at the next step (slow on a busy shared machine)
        if engine.scheduler is not None and engine.scheduler.running == 0:
            break
        await asyncio.sleep(0.02)
    assert engine.scheduler is not None and engine.scheduler.running == 0
    text, _, _ = await answer(engine, ask("Is shipping free?"))
    assert text


async def test_stop_strings_cut_the_answer(engine):
    text, _, final = await answer(engine, ask("How long does shipping take?"))
    word = text.split()[1]
    stopped, _, final = await answer(engine, ask("How long does shipping take?", stop=(word,)))
    assert final.finish_reason == "stop" and word not in stopped


async def test_sampling_is_reproducible_with_a_seed(engine):
    first = await answer(engine, ask("Say hi", temperature=0.9, seed=7))
    second = await answer(engine, ask("Say hi", temperature=0.9, seed=7))
    assert first[0] == second[0]


async def test_requests_wait_for_cells_instead_of_failing():
    settings = EngineOptions(
        kind=EngineKind.LLAMACPP, threads=2, context_tokens=512, max_batch_size=8
    )
    engine = LlamaCppEngine(settings)
    await engine.start()
    try:
        results = await asyncio.gather(
            *(answer(engine, ask(q, max_new_tokens=40)) for q in ["Hi", "Hello", "Hey"] * 3)
        )
        assert all(final.finish_reason in {"stop", "length"} for _, _, final in results)
        long_prompt = ask("shoes " * 600)
        with pytest.raises(InvalidInputError) as caught:
            await answer(engine, long_prompt)
        assert caught.value.code == "prompt_too_long"
    finally:
        await engine.stop()


async def test_invalid_unstarted_and_closed(engine):
    with pytest.raises(InvalidInputError):
        await answer(engine, ask("Hi", top_logprobs=21))
    fresh = LlamaCppEngine(EngineOptions(kind=EngineKind.LLAMACPP))
    assert not (await fresh.check_health()).ok
    with pytest.raises(EngineError):
        await answer(fresh, ask("Hi"))
    await engine.stop()
    assert not (await engine.check_health()).ok


async def test_prompt_matches_the_transformers_chat_template(engine):
    from transformers import AutoTokenizer

    gguf = gguf_path("embedded")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    messages = (
        ChatMessage.text("system", SYSTEM),
        ChatMessage.text("user", "你好, where is my order SO2026001234?"),
    )
    assert engine._model is not None and engine._template is not None
    prompt = prepare_prompt(engine._model, engine._template, messages)
    dialogue = [{"role": m.role, "content": m.content_text} for m in messages]
    expected = tokenizer.apply_chat_template(dialogue, add_generation_prompt=True, tokenize=False)
    assert list(prompt.ids) == tokenizer(expected, add_special_tokens=False)["input_ids"]
    assert 0 < prompt.prefix_len < len(prompt.ids)


def test_bad_model_paths_raise_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError):
        gguf_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelLoadError):
        gguf_path(str(tmp_path))


def test_auto_picks_llamacpp_for_a_gguf_on_cpu(tmp_path):
    assert resolve_kind(EngineOptions()) == "llamacpp"
    assert resolve_kind(EngineOptions(model=str(tmp_path))) == "transformers"
    assert resolve_kind(EngineOptions(device="cuda")) == "transformers"
    assert resolve_kind(EngineOptions(kind=EngineKind.TRANSFORMERS)) == "transformers"


def test_chat_template_without_a_template_is_chatml():
    rendered = ChatTemplate(None).render(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_a_prompt_fed_at_once_gives_the_logits_of_token_by_token_decoding():
    """Guards the library build: its large-batch kernels once gave wrong logits."""
    import numpy as np

    from core.engines._llamacpp import ContextShape, LlamaModel

    model = LlamaModel(gguf_path("embedded"), ContextShape(1024, 4, 512, 2))
    try:
        text = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nIs it free?<|im_end|>\n"
        ids = model.tokenize(text + "<|im_start|>assistant\n")
        assert len(ids) > 40
        model.decode([(t, i, 0, i == len(ids) - 1) for i, t in enumerate(ids)])
        at_once = model.logits([len(ids) - 1])[0]
        for i, token in enumerate(ids):
            model.decode([(token, i, 1, i == len(ids) - 1)])
        one_by_one = model.logits([0])[0]
        assert int(at_once.argmax()) == int(one_by_one.argmax())

        def log_softmax(row: np.ndarray) -> np.ndarray:
            shifted = row - row.max()
            return shifted - np.log(np.exp(shifted).sum())

        best = np.argsort(-one_by_one)[:20]  # the likely tokens, whose logprobs matter
        difference = np.abs(log_softmax(at_once)[best] - log_softmax(one_by_one)[best]).max()
        # int8 activations put both ~0.25 from an fp32 reference; the bug was off by >2
        assert difference < 0.5
    finally:
        model.close()


async def test_a_slow_consumer_neither_holds_the_batch_nor_loses_tokens(engine):
    slow_request = ask("Tell me about returns.", max_new_tokens=24)
    slow_chunks = []
    fast_done = asyncio.Event()

    async def slow() -> None:
        async for chunk in engine.generate(slow_request):
            slow_chunks.append(chunk)
            if len(slow_chunks) == 1:
                await fast_done.wait()  # stuck (a platform rate limit) until the other is done

    async def fast() -> None:
        await answer(engine, ask("Is shipping free?", max_new_tokens=24))
        fast_done.set()

    # if the engine waited for the stuck consumer, the other answer would never finish
    await asyncio.wait_for(asyncio.gather(slow(), fast()), timeout=120)
    final = slow_chunks[-1]
    assert final.usage is not None and final.usage.completion_tokens > 2
    # what piled up meanwhile came as merged chunks, with every token's logprob
    assert len(slow_chunks) < final.usage.completion_tokens
    assert sum(len(c.logprobs) for c in slow_chunks) == final.usage.completion_tokens
