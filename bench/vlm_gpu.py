"""Batched vision-language throughput on a GPU: a Qwen2.5-VL-3B-shaped model, random weights.

32 concurrent chats, each with one 1280x720 photo (about 1,200 visual tokens at the default
budget) behind a ~300-token system prompt, 128 new tokens each. Reports kefu's tok/s, the
tok/s of transformers ``generate`` one chat at a time, and the decode roofline: the tok/s
a step would reach if it only had to stream the text weights and the KV cache once from
GPU memory (H100 SXM 3.35 TB/s, H200 4.8 TB/s).

Weights are random (no download): speed does not depend on their values. The tokenizer is
a synthetic word-level one with Qwen's special-token ids, so prompts have exact lengths.

Run (GPU):   .venv/bin/python -m bench.vlm_gpu
Run (CPU):   .venv/bin/python -m bench.vlm_gpu --tiny     # same logic, tiny config, seconds
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import random

import torch
from PIL import Image

from bench._common import Stopwatch, print_header, table
from core.engines.base import ChatMessage, GenerationRequest, collect
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine, prepare_prompt
from core.model.turn import ImagePart, TextPart

VOCAB = 151936
SPECIAL = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
}
BANDWIDTH = {"H100": 3.35e12, "H200": 4.8e12}
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + ' ' + m['content'] + ' <|im_end|> ' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant ' }}{% endif %}"
)


def synthetic_tokenizer(vocab: int):
    """Word-level tokenizer: word ``w<i>`` is id i; Qwen's special tokens keep their ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {f"w{i}": i for i in range(vocab)}
    specials = {t: (i if i < vocab else vocab - 1 - n) for n, (t, i) in enumerate(SPECIAL.items())}
    for token, index in specials.items():
        words.pop(f"w{index}", None)
        words[token] = index
    backend = Tokenizer(models.WordLevel(words, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(specials)})
    tokenizer.chat_template = CHATML
    return tokenizer, specials


def build_model(tiny: bool, specials: dict[str, int], device: str):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    if tiny:
        text = {
            "vocab_size": 4096,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
        }
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
        }
        sections = [2, 3, 3]
    else:  # Qwen2.5-VL-3B-Instruct's shapes
        text = {
            "vocab_size": VOCAB,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6,
        }
        vision = {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "fullatt_block_indexes": [7, 15, 23, 31],
        }
        sections = [16, 24, 24]
    text.update(
        bos_token_id=specials["<|endoftext|>"],
        eos_token_id=specials["<|im_end|>"],
        pad_token_id=specials["<|endoftext|>"],
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": sections},
    )
    vision.update(patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112)
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=specials["<|image_pad|>"],
        vision_start_token_id=specials["<|vision_start|>"],
        vision_end_token_id=specials["<|vision_end|>"],
        video_token_id=specials["<|endoftext|>"],
    )
    dtype = torch.float32 if tiny else torch.bfloat16
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    return model.eval()


def photo(seed: int) -> ImagePart:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (720, 1280, 3), generator=generator, dtype=torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
    return ImagePart.from_normalised(buffer.getvalue(), "image/jpeg", 1280, 720)


def words(count: int, seed: int, vocab: int) -> str:
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(1000, min(vocab, 150000))}" for _ in range(count))


def requests(chats: int, new_tokens: int, vocab: int) -> list[GenerationRequest]:
    system = ChatMessage.text("system", words(300, 0, vocab))  # the same for every chat
    return [
        GenerationRequest(
            (system, ChatMessage("user", (photo(i), TextPart(words(20, i + 1, vocab))))),
            max_new_tokens=new_tokens,
        )
        for i in range(chats)
    ]


def sequential_generate(
    engine: TransformersEngine, batch: list[GenerationRequest], new_tokens: int
) -> tuple[int, float]:
    """transformers generate, one chat at a time (on the engine thread)."""
    loaded = engine._loaded
    assert loaded is not None
    model, tokenizer, vision = loaded.model, loaded.tokenizer, loaded.vision
    device = next(model.parameters()).device
    config = copy.deepcopy(model.generation_config)
    config.eos_token_id, config.do_sample = None, False
    tokens = 0
    with Stopwatch() as watch:
        for request in batch:
            prompt = prepare_prompt(tokenizer, request.messages, vision)
            ids = torch.tensor([prompt.ids], device=device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                pixel_values=prompt.vision.pixel_values.to(device, model.dtype),
                image_grid_thw=prompt.vision.image_grid_thw.to(device),
                mm_token_type_ids=(ids == model.config.image_token_id).int(),
                generation_config=config,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
            )
            tokens += out.shape[1] - ids.shape[1]
        if device.type == "cuda":
            torch.cuda.synchronize()
    return tokens, watch.seconds


def roofline(model, chats: int, context: int, device_name: str) -> tuple[float, str]:
    """Upper bound on decode tok/s: weights + KV streamed once per step at full bandwidth."""
    text = model.config.get_text_config()
    language = model.model.language_model
    weight_bytes = sum(p.numel() * p.element_size() for p in language.parameters())
    head = model.lm_head.weight
    if head.data_ptr() != language.embed_tokens.weight.data_ptr():
        weight_bytes += head.numel() * head.element_size()
    head_dim = text.hidden_size // text.num_attention_heads
    kv_bytes = (
        chats * context * text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * 2
    )
    name = next((n for n in BANDWIDTH if n in device_name), "H100")
    step_seconds = (weight_bytes + kv_bytes) / BANDWIDTH[name]
    return chats / step_seconds, name


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="tiny config on CPU (checks the logic)")
    parser.add_argument("--chats", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument(
        "--sequential", type=int, default=None, help="chats for the generate() baseline"
    )
    args = parser.parse_args()
    chats = args.chats or (4 if args.tiny else 32)
    new_tokens = args.new_tokens or (16 if args.tiny else 128)
    sequential = args.sequential or (2 if args.tiny else 4)
    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    if not args.tiny and device == "cpu":
        raise SystemExit(
            "no CUDA device: run on a GPU machine, or pass --tiny to check the logic on CPU"
        )
    print_header("kefu batched VLM throughput (Qwen2.5-VL-3B shape, random weights)")
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device: {device_name}\n")
    vocab = 4096 if args.tiny else VOCAB
    tokenizer, specials = synthetic_tokenizer(vocab)
    model = build_model(args.tiny, specials, device)
    pixels = {"min_pixels": 256 * 28 * 28, "max_pixels": (64 if args.tiny else 1280) * 28 * 28}
    settings = EngineOptions(
        device="cpu" if device == "cpu" else "cuda",
        dtype="float32" if args.tiny else "bfloat16",
        max_batch_size=chats,
        max_wait_ms=50,
        threads=None,
        **pixels,
    )
    engine = TransformersEngine.from_model(
        model, tokenizer, settings, model_id="qwen2.5-vl-3b-random"
    )
    await engine.start()
    try:
        batch = requests(chats, new_tokens, vocab)
        prompt_tokens = len(prepare_prompt(tokenizer, batch[0].messages, engine._loaded.vision).ids)
        await collect(
            engine.generate(requests(1, 2, vocab)[0])
        )  # warm-up, caches the system prompt
        with Stopwatch() as watch:
            results = await asyncio.gather(*(collect(engine.generate(r)) for r in batch))
        tokens = sum(final.usage.completion_tokens for _, _, final in results)
        kefu_rate = tokens / watch.seconds
        seq_tokens, seq_seconds = await engine.scheduler.call(
            lambda: sequential_generate(engine, batch[:sequential], new_tokens)
        )
        seq_rate = seq_tokens / seq_seconds
        bound, gpu = roofline(engine._loaded.model, chats, prompt_tokens + new_tokens, device_name)
    finally:
        await engine.stop()
    print(f"prompt: {prompt_tokens} tokens per chat (300 system + image + question)\n")
    rows = [
        ["generate, one chat at a time", sequential, seq_tokens, seq_seconds, seq_rate, 1.0, ""],
        [
            f"kefu, {chats} concurrent chats",
            chats,
            tokens,
            watch.seconds,
            kefu_rate,
            kefu_rate / seq_rate,
            f"{kefu_rate / bound:.1%} of {gpu} decode roofline {bound:.0f} tok/s",
        ],
    ]
    print(
        table(
            ["method", "chats", "tokens", "seconds", "tok/s", "x sequential", "vs roofline"], rows
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
