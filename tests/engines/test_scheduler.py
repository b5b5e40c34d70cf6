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

from core.engines._decoding import IncrementalDetokenizer, StopMatcher
from core.engines._kv import KVBatch, prefill_mask
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


# ---- KV plumbing -------------------------------------------------------------------


def _batch_with(rows_lengths: list[int], capacity: int = 16) -> KVBatch:
    batch = KVBatch.allocate(
        rows=len(rows_lengths),
        layers=2,
        kv_heads=1,
        head_dim=2,
        capacity=capacity,
        dtype=torch.float32,
        device=torch.device("cpu"),
    )
    width = max(rows_lengths)
    for layer_index, layer in enumerate(batch.cache.buffer_layers):
        for row, n in enumerate(rows_lengths):
            layer.keys[row, 0, width - n : width] = (
                torch.arange(1, n + 1)[:, None] + 100 * row + layer_index
            )
            layer.values[row, 0, width - n : width] = -layer.keys[row, 0, width - n : width]
        layer.length = width
    for row, n in enumerate(rows_lengths):
        batch.valid[row, width - n : width] = True
        batch.next_pos[row] = n
    return batch


def test_merge_left_pads_and_keeps_every_row():
    merged = KVBatch.merge(_batch_with([3, 2]), _batch_with([5]))
    assert merged.rows == 3 and merged.length == 5
    assert merged.valid[:, :5].tolist() == [
        [False, False, True, True, True],
        [False, False, False, True, True],
        [True, True, True, True, True],
    ]
    keys = merged.cache.buffer_layers[1].keys[:, 0, :5, 0]
    assert keys[0, 2:].tolist() == [2.0, 3.0, 4.0]
    assert keys[1, 3:].tolist() == [102.0, 103.0]
    assert keys[2].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert merged.next_pos.tolist() == [3, 2, 5]


def test_select_rows_trims_all_padding_columns():
    batch = KVBatch.merge(_batch_with([2]), _batch_with([6]))
    batch.select_rows([0])
    assert batch.length == 2 and batch.rows == 1
    assert batch.valid[0, :2].tolist() == [True, True]
    assert batch.cache.buffer_layers[0].keys[0, 0, :2, 0].tolist() == [1.0, 2.0]


def test_decode_mask_grows_capacity():
    batch = _batch_with([4], capacity=4)
    mask = batch.decode_mask()
    assert mask.shape == (1, 1, 1, 5) and mask.all()
    assert batch.valid.shape[1] > 5


def test_prefill_mask_is_causal_with_padding_and_self():
    valid = torch.tensor([[True, True, False, True, True]])
    mask = prefill_mask(valid, 3)[0, 0]
    assert mask.tolist() == [
        [True, True, True, False, False],  # padding query sees only itself and the past
        [True, True, False, True, False],
        [True, True, False, True, True],
    ]


# ---- text helpers -------------------------------------------------------------------


def test_detokenizer_never_splits_multibyte_characters(tiny_tokenizer):
    text = "你好，运费是十元。😀 🎉 谢谢"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    partial = [tiny_tokenizer.decode(ids[:n]) for n in range(1, len(ids))]
    assert any(p.endswith("\ufffd") for p in partial), (
        "tokenizer must split a character for this test"
    )
    detokenizer = IncrementalDetokenizer(tiny_tokenizer)
    pieces = [detokenizer.push(i) for i in ids]
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) + detokenizer.flush() == text


def test_stop_matcher_holds_back_possible_starts():
    matcher = StopMatcher(["</end>", "STOP"])
    assert matcher.feed("Hello <") == "Hello "
    assert matcher.feed("/e") == ""
    assert matcher.feed("x world ST") == "</ex world "
    assert matcher.feed("OP and more") == ""
    assert matcher.stopped
    assert matcher.flush() == ""


def test_stop_matcher_releases_held_text_at_the_end():
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("almost ST") == "almost "
    assert matcher.flush() == "ST"
    assert StopMatcher([]).feed("anything") == "anything"


def test_detokenizer_drops_a_character_cut_off_at_the_end(tiny_tokenizer):
    ids = tiny_tokenizer("ok 🚀", add_special_tokens=False)["input_ids"]
    detokenizer = IncrementalDetokenizer(tiny_tokenizer)
    streamed = "".join(detokenizer.push(i) for i in ids[:-1])  # the rocket's last byte never comes
    assert streamed + detokenizer.flush() == "ok "


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


def test_merge_and_select_keep_prefix_slots_consistent():
    from core.engines._kv import PrefixKV

    prefix_a = PrefixKV((torch.zeros(1, 1, 2, 2),) * 2, (torch.zeros(1, 1, 2, 2),) * 2, 2)
    prefix_b = PrefixKV((torch.ones(1, 1, 3, 2),) * 2, (torch.ones(1, 1, 3, 2),) * 2, 3)
    first, second, third = _batch_with([2, 3]), _batch_with([4]), _batch_with([1])
    first.slots, first.row_slot = [prefix_a], [0, 0]
    second.slots, second.row_slot = [prefix_b], [0]
    merged = KVBatch.merge(KVBatch.merge(first, second), third)
    assert merged.slots == [prefix_a, prefix_b] and merged.row_slot == [0, 0, 1, -1]
    shared = merged.shared()
    assert [slot.rows.tolist() for slot in shared.slots] == [[0, 1], [2]]
    merged.select_rows([2, 3])
    assert merged.slots == [prefix_b] and merged.row_slot == [0, -1]
    assert [slot.rows.tolist() for slot in merged.shared().slots] == [[0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cascade_attention_equals_attention_over_the_full_row(dtype):
    from types import SimpleNamespace

    from core.engines._attention import SharedPrefixes, SharedSlot, cascade_attention

    torch.manual_seed(0)
    rows, heads, kv_heads, dim, own, prefix = 3, 4, 2, 8, 5, 7
    query = torch.randn(rows, heads, 1, dim, dtype=dtype)
    keys, values = (
        torch.randn(rows, kv_heads, own, dim, dtype=dtype),
        torch.randn(rows, kv_heads, own, dim, dtype=dtype),
    )
    mask = torch.ones(rows, 1, 1, own, dtype=torch.bool)
    mask[1, ..., :2] = False  # row 1 has left padding
    prefix_keys = torch.randn(1, kv_heads, prefix, dim, dtype=dtype)
    prefix_values = torch.randn(1, kv_heads, prefix, dim, dtype=dtype)
    shared = SharedPrefixes((SharedSlot(torch.tensor([0, 1]), (prefix_keys,), (prefix_values,)),))
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=heads // kv_heads, is_causal=True)
    out, _ = cascade_attention(module, query, keys, values, mask, kefu_shared=shared)
    for row in range(rows):
        has_prefix = row < 2
        k = torch.cat([prefix_keys[0], keys[row]], 1) if has_prefix else keys[row]
        v = torch.cat([prefix_values[0], values[row]], 1) if has_prefix else values[row]
        m = (
            torch.cat([torch.ones(prefix, dtype=torch.bool), mask[row, 0, 0]])
            if has_prefix
            else mask[row, 0, 0]
        )
        expected = torch.nn.functional.scaled_dot_product_attention(
            query[row].float(),
            k.repeat_interleave(2, 0).float(),
            v.repeat_interleave(2, 0).float(),
            attn_mask=m,
        )
        tolerance = 1e-5 if dtype == torch.float32 else 3e-2
        torch.testing.assert_close(
            out[row, 0].float(), expected[:, 0], atol=tolerance, rtol=tolerance
        )
