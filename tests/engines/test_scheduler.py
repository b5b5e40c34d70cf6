"""The batching scheduler on a tiny random Llama (fp32, CPU).

Every output is compared with transformers' own ``generate`` / forward pass on the same
prompt alone, so batching, left padding, joining mid-batch, prefix KV reuse, dropping rows
and column trimming are all proven to leave the numbers unchanged.
"""

from __future__ import annotations

import asyncio
import copy
import re

import pytest
import torch

from core.engines._runner import ModelRunner, PreparedPrompt
from core.engines.base import ChatMessage, GenerationChunk, GenerationRequest
from core.engines.scheduler import BatchScheduler, Job
from core.engines.transformers_engine import prepare_prompt
from core.errors import EngineError

SYSTEM = "You are a helpful shop assistant for Acme Shoes. Shipping takes three to five days."
QUESTIONS = [
    "Hello!",
    "Where is my order SO20260001? It should be here by now, I think.",
    "运费多少？",
    "The red shoes cost 49 dollars?",
]


def messages(question: str, system: str | None = SYSTEM) -> tuple[ChatMessage, ...]:
    head = (ChatMessage.text("system", system),) if system else ()
    return (*head, ChatMessage.text("user", question))


def reference(model, prompt: PreparedPrompt, new_tokens: int) -> list[int]:
    """Greedy tokens from transformers' own generate(), EOS disabled."""
    config = copy.deepcopy(model.generation_config)
    config.eos_token_id = None
    config.do_sample = False
    ids = torch.tensor([prompt.ids])
    out = model.generate(
        ids,
        generation_config=config,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=0,
        attention_mask=torch.ones_like(ids),
    )
    return out[0, len(prompt.ids) :].tolist()


def decoded(tokenizer, tokens: list[int]) -> str:
    """Text as the engine streams it: no special tokens, no character cut off at the end."""
    return tokenizer.decode(tokens, skip_special_tokens=True).rstrip("\ufffd")


@pytest.fixture
async def scheduler(tiny_llama, tiny_tokenizer):
    scheduler = BatchScheduler(max_batch_size=8, max_wait_ms=20, prefix_cache_size=4, threads=1)
    runner = ModelRunner(tiny_llama, torch.device("cpu"), torch.float32)
    await scheduler.call(lambda: scheduler.attach(runner, tiny_tokenizer, frozenset()))
    yield scheduler
    scheduler.close()


def submit(scheduler: BatchScheduler, tokenizer, request: GenerationRequest) -> Job:
    prompt = prepare_prompt(tokenizer, request.messages, None)
    job = Job(request, prompt, asyncio.get_running_loop())
    scheduler.submit(job)
    return job


async def drain(job: Job) -> tuple[str, list[GenerationChunk]]:
    chunks: list[GenerationChunk] = []
    while True:
        item = await asyncio.wait_for(job.queue.get(), 30)
        assert not isinstance(item, BaseException), item
        assert item is not None
        chunks.append(item)
        if item.finish_reason is not None:
            return "".join(c.text for c in chunks), chunks


async def wait_for(predicate) -> None:
    async with asyncio.timeout(30):
        while not predicate():
            await asyncio.sleep(0.002)


async def test_concurrent_batch_matches_sequential_generate(scheduler, tiny_llama, tiny_tokenizer):
    questions = [*QUESTIONS, "Do you ship to Norway?", "红色的鞋子多少钱？"]  # > PREFILL_ROWS
    requests = [GenerationRequest(messages(q), max_new_tokens=16) for q in questions]
    jobs = [submit(scheduler, tiny_tokenizer, r) for r in requests]
    results = await asyncio.gather(*(drain(j) for j in jobs))
    assert scheduler.max_rows_seen == len(questions)  # all decoded in one batch
    for job, (text, chunks) in zip(jobs, results, strict=True):
        expected = reference(tiny_llama, job.prompt, 16)
        assert text == decoded(tiny_tokenizer, expected)
        assert chunks[-1].finish_reason == "length"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
        assert chunks[-1].usage.prompt_tokens == len(job.prompt.ids)


async def test_prompts_without_system_and_different_lengths(scheduler, tiny_llama, tiny_tokenizer):
    requests = [
        GenerationRequest(messages("Hi", system=None), max_new_tokens=10),
        GenerationRequest(messages(QUESTIONS[1] * 3, system=None), max_new_tokens=10),
    ]
    jobs = [submit(scheduler, tiny_tokenizer, r) for r in requests]
    results = await asyncio.gather(*(drain(j) for j in jobs))
    for job, (text, _) in zip(jobs, results, strict=True):
        assert job.prompt.prefix_len == 0
        assert text == decoded(tiny_tokenizer, reference(tiny_llama, job.prompt, 10))


async def test_newcomer_joins_running_batch(scheduler, tiny_llama, tiny_tokenizer):
    long_job = submit(
        scheduler, tiny_tokenizer, GenerationRequest(messages(QUESTIONS[1]), max_new_tokens=60)
    )
    await wait_for(lambda: scheduler.steps >= 5)
    short_job = submit(
        scheduler, tiny_tokenizer, GenerationRequest(messages(QUESTIONS[2]), max_new_tokens=5)
    )
    short_text, _ = await drain(short_job)
    assert not long_job.finished, "the newcomer must not wait for the running batch to end"
    long_text, _ = await drain(long_job)
    assert scheduler.max_rows_seen == 2
    assert short_text == decoded(tiny_tokenizer, reference(tiny_llama, short_job.prompt, 5))
    assert long_text == decoded(tiny_tokenizer, reference(tiny_llama, long_job.prompt, 60))


async def test_shared_system_prefix_is_computed_once(scheduler, tiny_llama, tiny_tokenizer):
    first = submit(
        scheduler, tiny_tokenizer, GenerationRequest(messages(QUESTIONS[0]), max_new_tokens=6)
    )
    await drain(first)
    assert first.prompt.prefix_len >= 8
    assert (scheduler.prefix_cache.misses, scheduler.prefix_cache.hits) == (1, 0)
    second = submit(
        scheduler, tiny_tokenizer, GenerationRequest(messages(QUESTIONS[3]), max_new_tokens=6)
    )
    text, _ = await drain(second)
    assert scheduler.prefix_cache.hits == 1
    assert text == decoded(tiny_tokenizer, reference(tiny_llama, second.prompt, 6))


async def test_abort_frees_the_row_and_leaves_others_intact(scheduler, tiny_llama, tiny_tokenizer):
    jobs = [
        submit(scheduler, tiny_tokenizer, GenerationRequest(messages(q), max_new_tokens=40))
        for q in QUESTIONS[:3]
    ]
    await wait_for(lambda: scheduler.steps >= 3)
    scheduler.abort(jobs[1].request_id)
    _, aborted_chunks = await drain(jobs[1])
    assert aborted_chunks[-1].finish_reason == "abort"
    assert aborted_chunks[-1].usage is not None and aborted_chunks[-1].usage.completion_tokens < 40
    assert scheduler.running == 2
    for job in (jobs[0], jobs[2]):
        text, _ = await drain(job)
        assert text == decoded(tiny_tokenizer, reference(tiny_llama, job.prompt, 40))
    assert scheduler.running == 0


async def test_abort_of_queued_job_never_prefills(scheduler, tiny_tokenizer):
    request = GenerationRequest(messages("queued"), max_new_tokens=5)
    job = Job(
        request, prepare_prompt(tiny_tokenizer, request.messages, None), asyncio.get_running_loop()
    )
    job.aborted = True
    scheduler.submit(job)
    _, chunks = await drain(job)
    assert chunks[-1].finish_reason == "abort" and chunks[-1].usage.completion_tokens == 0
    assert scheduler.prefix_cache.misses == 0


async def test_logprobs_match_the_model_distribution(scheduler, tiny_llama, tiny_tokenizer):
    request = GenerationRequest(messages(QUESTIONS[1]), max_new_tokens=8, top_logprobs=3)
    job = submit(scheduler, tiny_tokenizer, request)
    _, chunks = await drain(job)
    logprobs = [lp for c in chunks for lp in c.logprobs]
    tokens = reference(tiny_llama, job.prompt, 8)
    assert len(logprobs) == 8
    full = torch.tensor([list(job.prompt.ids) + tokens])
    with torch.no_grad():
        expected = torch.log_softmax(tiny_llama(full).logits[0].float(), -1)
    start = len(job.prompt.ids) - 1
    for i, (token, lp) in enumerate(zip(tokens, logprobs, strict=True)):
        assert lp.token == tiny_tokenizer.decode([token])
        assert lp.logprob == pytest.approx(expected[start + i, token].item(), abs=1e-4)
        assert len(lp.top) == 3
        assert lp.top[0][1] == pytest.approx(lp.logprob, abs=1e-6)  # greedy chose the top one
        assert [v for _, v in lp.top] == sorted((v for _, v in lp.top), reverse=True)


async def test_no_logprobs_when_not_asked(scheduler, tiny_tokenizer):
    job = submit(
        scheduler,
        tiny_tokenizer,
        GenerationRequest(messages("Hi"), max_new_tokens=4, logprobs=False),
    )
    _, chunks = await drain(job)
    assert all(c.logprobs == () for c in chunks)


async def test_sampling_is_reproducible_per_seed(scheduler, tiny_tokenizer):
    def sampled(seed: int) -> GenerationRequest:
        return GenerationRequest(
            messages(QUESTIONS[0]), max_new_tokens=24, temperature=1.0, seed=seed
        )

    # the same seed gives the same text even when batched with other requests
    alone, _ = await drain(submit(scheduler, tiny_tokenizer, sampled(7)))
    jobs = [submit(scheduler, tiny_tokenizer, r) for r in (sampled(7), sampled(8), sampled(7))]
    texts = [t for t, _ in await asyncio.gather(*(drain(j) for j in jobs))]
    assert texts[0] == alone == texts[2]
    assert texts[1] != texts[0]


async def test_tiny_top_p_is_greedy(scheduler, tiny_llama, tiny_tokenizer):
    request = GenerationRequest(
        messages(QUESTIONS[3]), max_new_tokens=10, temperature=1.5, top_p=1e-6, seed=1
    )
    job = submit(scheduler, tiny_tokenizer, request)
    text, _ = await drain(job)
    assert text == decoded(tiny_tokenizer, reference(tiny_llama, job.prompt, 10))


async def test_stop_string_ends_generation_before_it(scheduler, tiny_llama, tiny_tokenizer):
    probe = prepare_prompt(tiny_tokenizer, messages(QUESTIONS[2]), None)
    full = decoded(tiny_tokenizer, reference(tiny_llama, probe, 30))
    match = re.search(r"[A-Za-z]{2}", full[3:])
    assert match is not None, f"pick another prompt; no ASCII word in {full!r}"
    stop = match.group(0)
    request = GenerationRequest(messages(QUESTIONS[2]), max_new_tokens=30, stop=(stop,))
    text, chunks = await drain(submit(scheduler, tiny_tokenizer, request))
    assert chunks[-1].finish_reason == "stop"
    assert text == full[: full.index(stop)]
    assert chunks[-1].usage.completion_tokens < 30


async def test_eos_token_ends_generation(tiny_llama, tiny_tokenizer):
    probe = prepare_prompt(tiny_tokenizer, messages(QUESTIONS[0]), None)
    tokens = reference(tiny_llama, probe, 6)
    eos = tokens[3]
    scheduler = BatchScheduler(max_batch_size=4, max_wait_ms=0, threads=1)
    runner = ModelRunner(tiny_llama, torch.device("cpu"), torch.float32)
    await scheduler.call(lambda: scheduler.attach(runner, tiny_tokenizer, frozenset({eos})))
    try:
        request = GenerationRequest(messages(QUESTIONS[0]), max_new_tokens=6)
        text, chunks = await drain(submit(scheduler, tiny_tokenizer, request))
    finally:
        scheduler.close()
    first = tokens.index(eos)
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == first + 1
    assert text == decoded(tiny_tokenizer, tokens[:first])


async def test_prefill_failure_reports_engine_error(scheduler, tiny_tokenizer, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(scheduler.runner, "prefill", broken)
    job = submit(
        scheduler, tiny_tokenizer, GenerationRequest(messages("Hi", system=None), max_new_tokens=3)
    )
    item = await asyncio.wait_for(job.queue.get(), 10)
    assert isinstance(item, EngineError) and "out of memory" in str(item)
    assert scheduler.running == 0


async def test_close_fails_pending_work(tiny_tokenizer):
    scheduler = BatchScheduler(threads=1)
    scheduler.close()
    with pytest.raises(EngineError):
        await scheduler.call(lambda: 1)
    assert not scheduler.alive


async def test_submit_before_attach_is_refused(tiny_tokenizer):
    scheduler = BatchScheduler(threads=1)
    try:
        request = GenerationRequest(messages("Hi"), max_new_tokens=2)
        job = Job(request, PreparedPrompt((1, 2, 3)), asyncio.get_running_loop())
        with pytest.raises(EngineError, match="not started"):
            scheduler.submit(job)
        assert await scheduler.call(lambda: 41 + 1) == 42
    finally:
        scheduler.close()


async def test_shared_prefix_is_kept_once_outside_the_rows(scheduler, tiny_llama, tiny_tokenizer):
    jobs = [
        submit(scheduler, tiny_tokenizer, GenerationRequest(messages(q), max_new_tokens=30))
        for q in QUESTIONS[:2]
    ]
    await wait_for(lambda: scheduler.steps >= 2)
    batch = await scheduler.call(lambda: scheduler._batch)
    prefix_len = jobs[0].prompt.prefix_len
    assert batch is not None and batch.row_slot == [0, 0] and batch.slots[0].length == prefix_len
    longest = max(len(j.prompt.ids) for j in jobs)
    assert batch.length < longest  # the rows hold only their own columns
    for job in jobs:
        text, _ = await drain(job)
        assert text == decoded(tiny_tokenizer, reference(tiny_llama, job.prompt, 30))
