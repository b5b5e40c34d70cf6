"""The local inference engine: transformers models behind the batching scheduler.

It serves the embedded SmolLM2 GGUF (see :mod:`core.engines.embedded`), any local causal
LM checkpoint directory, and local Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints with real
image input (see :mod:`core.engines.vlm`). Loading and every forward pass run on the
scheduler's single engine thread; prompt rendering and image preprocessing run in a
worker thread; the event loop only moves chunks.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.engines._checkpoint import load_checkpoint
from core.engines._local import ScheduledEngine, usable_cores
from core.engines._runner import ModelRunner, PreparedPrompt
from core.engines.base import ChatMessage, GenerationChunk, GenerationRequest, validate_request
from core.engines.embedded import (
    EMBEDDED_MODEL_ID,
    LoadProgress,
    ProgressCallback,
    load_embedded,
)
from core.engines.options import EngineOptions
from core.engines.scheduler import BatchScheduler, Job
from core.engines.vlm import QwenVisionPrompter, is_qwen_vl, vision_spec
from core.errors import EngineError, ModelLoadError

log = logging.getLogger(__name__)
CHATML_END = "<|im_end|>"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(setting: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU.

    Raises:
        ModelLoadError: ``cuda`` was asked for on a machine without it.
    """
    if setting == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("engine.device is 'cuda' but no CUDA device is available")
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA and float32 on CPU; explicit names are honoured."""
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[setting]


def default_threads(setting: int | None, cores: int | None = None) -> int:
    """Torch threads for the engine thread: the setting, else one less than the cores.

    The event loop (HTTP, streaming, OCR hand-offs) needs a core too: with every core
    given to OpenMP, each of its wake-ups stalls a thread the others wait for at the
    next barrier. Through the API on 2 cores the all-cores default answered at 7.8
    tok/s against 12.0 with one thread (issue 13).
    """
    if setting:
        return setting
    if cores is None:
        cores = usable_cores()
    return max(1, cores - 1)


def limit_kernel_cache(entries: int = 8) -> None:
    """Keep oneDNN's primitive cache small (unless the operator set it).

    bf16 CPU matmuls go through oneDNN, which caches one primitive (with its scratch
    memory) per shape, 1024 by default. Decode shapes change every step as the cache
    grows, so the cache filled up and resident memory crept up by ~20 MB per 16-chat
    round; with 8 entries it stays flat and the speed is the same. oneDNN reads the
    variable when it first creates a primitive, so this must run before any bf16 matmul.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(entries))


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """What the engine thread produced at start-up."""

    model: Any
    tokenizer: Any
    model_id: str
    vision: QwenVisionPrompter | None


class TransformersEngine(ScheduledEngine[BatchScheduler]):
    """A local :class:`~core.engines.base.Engine` with iteration-level batching.

    Args:
        settings: ``EngineOptions`` (model, device, dtype, cache_dir, batching, pixel budget).
        progress: Called (on the engine thread) with :class:`LoadProgress` while loading.
        prefix_cache_size: Entries in the shared-prefix KV cache.
    """

    def __init__(
        self,
        settings: EngineOptions,
        progress: ProgressCallback | None = None,
        *,
        prefix_cache_size: int = 4,
        prebuilt: tuple[Any, Any] | None = None,
        model_id: str | None = None,
    ) -> None:
        self.settings = settings
        self._progress = progress or (lambda _: None)
        self._prefix_cache_size = prefix_cache_size
        default_id = (
            EMBEDDED_MODEL_ID if settings.model == "embedded" else Path(settings.model).name
        )
        self.model_id = model_id or default_id
        self.supports_images = False
        self.device: torch.device | None = None
        self.dtype: torch.dtype | None = None
        self.scheduler: BatchScheduler | None = None
        self._loaded: LoadedModel | None = None
        self._prebuilt = prebuilt
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: EngineOptions, progress: ProgressCallback | None = None
    ) -> TransformersEngine:
        return cls(settings, progress)

    @classmethod
    def from_model(
        cls, model: Any, tokenizer: Any, settings: EngineOptions, *, model_id: str = "in-memory"
    ) -> TransformersEngine:
        """An engine serving an already-built model (benchmarks with random weights).

        ``start()`` then only moves it to the configured device and dtype on the engine
        thread; Qwen-VL models get the vision path as when loaded from a directory.
        """
        return cls(settings, prebuilt=(model, tokenizer), model_id=model_id)

    async def start(self) -> None:
        """Load the model on the engine thread. Idempotent.

        Raises:
            ModelLoadError: the model cannot be found or loaded.
        """
        async with self._start_lock:
            if self._loaded is not None:
                return
            limit_kernel_cache()
            scheduler = BatchScheduler(
                max_batch_size=self.settings.max_batch_size,
                max_wait_ms=self.settings.max_wait_ms,
                prefix_cache_size=self._prefix_cache_size,
                threads=default_threads(self.settings.threads),
            )
            try:
                self._loaded = await scheduler.call(lambda: self._load(scheduler))
            except BaseException:
                await asyncio.to_thread(scheduler.close)
                raise
            self.scheduler = scheduler
            self.model_id = self._loaded.model_id
            self.supports_images = self._loaded.vision is not None

    def _load(self, scheduler: BatchScheduler) -> LoadedModel:
        """Runs on the engine thread."""
        settings = self.settings
        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device)
        loaded = self._load_weights(device, dtype)
        model = loaded.model
        if getattr(model.config, "_attn_implementation", "sdpa") != "sdpa":
            model.set_attn_implementation("sdpa")  # our boolean 4-D masks need sdpa
        runner = ModelRunner(model, device, dtype)
        scheduler.attach(runner, loaded.tokenizer, _eos_ids(model, loaded.tokenizer))
        self.device, self.dtype = device, dtype
        self._progress(LoadProgress("ready", 1.0, f"{loaded.model_id} on {device} ({dtype})"))
        return loaded

    def _load_weights(self, device: torch.device, dtype: torch.dtype) -> LoadedModel:
        settings = self.settings
        if self._prebuilt is not None:
            model, tokenizer = self._prebuilt
            self._prebuilt = None
            model = model.to(device=device, dtype=dtype).eval()
            vision = None
            if is_qwen_vl(model.config):
                vision = QwenVisionPrompter(
                    vision_spec(model.config),
                    tokenizer,
                    min_pixels=settings.min_pixels,
                    max_pixels=settings.max_pixels,
                )
            return LoadedModel(model, tokenizer, self.model_id, vision)
        if settings.model == "embedded":
            result = load_embedded(settings.cache_dir, dtype=dtype, progress=self._progress)
            return LoadedModel(result.model.to(device), result.tokenizer, EMBEDDED_MODEL_ID, None)
        path = Path(settings.model).expanduser()
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"engine.model {settings.model!r} is neither 'embedded' nor a checkpoint "
                "directory with a config.json"
            )
        self._progress(LoadProgress("checkpoint", 0.1, f"loading {path}"))
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(str(path))
        except Exception as exc:
            raise ModelLoadError(f"cannot read {path}/config.json: {exc}") from exc
        if is_qwen_vl(config):
            model, tokenizer = load_checkpoint(path, vision=True, dtype=dtype, device=device)
            vision = QwenVisionPrompter(
                vision_spec(config, path),
                tokenizer,
                min_pixels=settings.min_pixels,
                max_pixels=settings.max_pixels,
            )
            return LoadedModel(model, tokenizer, path.name, vision)
        model, tokenizer = load_checkpoint(path, vision=False, dtype=dtype, device=device)
        return LoadedModel(model, tokenizer, path.name, None)

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        scheduler, loaded = self._require_started()
        validate_request(request)
        prompt = await asyncio.to_thread(self._prepare, loaded, request.messages)
        if len(prompt.ids) + 1 >= scheduler.max_positions:
            raise self._too_long(len(prompt.ids))
        job = Job(request, prompt, asyncio.get_running_loop())
        scheduler.submit(job)
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, GenerationChunk) and item.finish_reason is not None:
                    yield item
                    return
                if job.aborted:  # abort() stops the stream now, not after the next step
                    yield job.abort_chunk()
                    return
                if isinstance(item, BaseException):
                    raise item
                if item is not None:
                    yield item
        finally:
            if not job.finished:
                scheduler.abort(job.request_id)  # consumer left early: free the row

    def _prepare(self, loaded: LoadedModel, messages: tuple[ChatMessage, ...]) -> PreparedPrompt:
        """Render the chat template and tokenise (worker thread)."""
        return prepare_prompt(loaded.tokenizer, messages, loaded.vision)

    def _health_detail(self, scheduler: BatchScheduler) -> str:
        cache = scheduler.prefix_cache
        return (
            f"{self.device} {self.dtype}; running {scheduler.running}; "
            f"prefix cache {len(cache)} entries, {cache.hits} hits"
        )

    def _forget_model(self) -> None:
        self._loaded = None

    def _require_started(self) -> tuple[BatchScheduler, LoadedModel]:
        if self.scheduler is None or self._loaded is None:
            raise EngineError("the engine is not started; call start() first")
        return self.scheduler, self._loaded


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every id that ends a turn: the tokenizer's EOS, the generation config's, ChatML's end."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    end = tokenizer.convert_tokens_to_ids(CHATML_END)
    if isinstance(end, int) and end != tokenizer.unk_token_id:
        ids.add(end)
    return frozenset(ids)


def prepare_prompt(
    tokenizer: Any, messages: tuple[ChatMessage, ...], vision: QwenVisionPrompter | None
) -> PreparedPrompt:
    """Render ``messages`` with the model's chat template and tokenise them.

    The leading system messages are rendered alone too; when their tokens are a prefix of
    the full prompt, that prefix is marked shareable so its KV can be cached.
    """
    inputs = None
    blocks: list[str] = []
    images = [image for message in messages for image in message.images] if vision else []
    if vision is not None and images:
        inputs = vision.process(images)
        blocks = [vision.image_block(grid) for grid in inputs.image_grid_thw]
    dialogue: list[dict[str, str]] = []
    for message in messages:
        content = message.content_text
        if vision is not None and message.images:
            taken, blocks = blocks[: len(message.images)], blocks[len(message.images) :]
            content = "".join(taken) + content
        dialogue.append({"role": message.role, "content": content})
    ids = _encode(tokenizer, render_chat(tokenizer, dialogue, add_generation_prompt=True))
    return PreparedPrompt(tuple(ids), _system_prefix_len(tokenizer, dialogue, ids), inputs)


def _system_prefix_len(tokenizer: Any, dialogue: list[dict[str, str]], ids: list[int]) -> int:
    system = []
    for turn in dialogue:
        if turn["role"] != "system":
            break
        system.append(turn)
    if not system or len(system) == len(dialogue):
        return 0
    try:
        prefix = _encode(tokenizer, render_chat(tokenizer, system, add_generation_prompt=False))
    except Exception:  # some templates refuse a system-only conversation
        return 0
    if len(prefix) < len(ids) and ids[: len(prefix)] == prefix:
        return len(prefix)
    return 0


def render_chat(
    tokenizer: Any, dialogue: list[dict[str, str]], *, add_generation_prompt: bool
) -> str:
    """The model's chat template, or ChatML when the tokenizer has none."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            dialogue, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    text = "".join(f"<|im_start|>{t['role']}\n{t['content']}<|im_end|>\n" for t in dialogue)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
