"""The fast CPU engine: a GGUF served by llama.cpp in-process, with kefu's own batching.

The embedded SmolLM2 GGUF is served as it ships (4-bit weights, no dequantised copy);
so is any other ``*.gguf`` file named by ``engine.model``. llama.cpp comes prebuilt in the
``ik-llama-cpp-python`` wheel (nothing compiles at set-up). The scheduler
(:mod:`core.engines._llama_sched`) batches every running request into one forward pass
per step and shares cached system prompts between rows; logprobs and top-k alternatives
are computed from the raw logits, exactly as the transformers engine does.

Prompts are rendered with the GGUF's own chat template (Jinja, as transformers renders
it), and tokenised in a worker thread; the event loop only moves chunks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.engines._llama_rows import LlamaJob, Prompt
from core.engines._llama_sched import LlamaScheduler
from core.engines._llamacpp import ContextShape, LlamaModel
from core.engines._local import ScheduledEngine, usable_cores
from core.engines.base import ChatMessage, GenerationChunk, GenerationRequest, validate_request
from core.engines.embedded import (
    EMBEDDED_MODEL_ID,
    LoadProgress,
    ProgressCallback,
    locate_embedded_gguf,
)
from core.engines.options import EngineOptions
from core.errors import EngineError, ModelLoadError

log = logging.getLogger(__name__)
PREFIX_SLOTS = 4
BATCH_TOKENS = 512


def default_threads(setting: int | None) -> int:
    """CPU threads for llama.cpp: the setting, else every core this process may use."""
    return setting or max(1, usable_cores())


def gguf_path(model: str) -> Path:
    """The GGUF file ``engine.model`` names (``embedded`` is the wheel's SmolLM2).

    Raises:
        ModelLoadError: not ``embedded`` and not an existing ``.gguf`` file.
    """
    if model == "embedded":
        return locate_embedded_gguf()
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        raise ModelLoadError(f"engine.model {model!r} is neither 'embedded' nor a .gguf file")
    return path


class LlamaCppEngine(ScheduledEngine[LlamaScheduler]):
    """A local :class:`~core.engines.base.Engine` on llama.cpp (text only).

    Args:
        settings: ``model`` (``embedded`` or a GGUF path), ``threads``, ``max_batch_size``
            and ``context_tokens`` (KV-cache cells shared by all running requests).
        progress: Called with :class:`LoadProgress` while loading.
    """

    supports_images = False

    def __init__(self, settings: EngineOptions, progress: ProgressCallback | None = None) -> None:
        self.settings = settings
        self._progress = progress or (lambda _: None)
        self.model_id = (
            EMBEDDED_MODEL_ID if settings.model == "embedded" else Path(settings.model).stem
        )
        self.threads = default_threads(settings.threads)
        self.scheduler: LlamaScheduler | None = None
        self._template: ChatTemplate | None = None
        self._model: LlamaModel | None = None
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the GGUF on the engine thread. Idempotent.

        Raises:
            ModelLoadError: the GGUF or the llama.cpp library cannot be loaded.
        """
        async with self._start_lock:
            if self.scheduler is not None:
                return
            self._progress(LoadProgress("locate", 0.0, "locating the GGUF"))
            gguf = gguf_path(self.settings.model)
            shape = ContextShape(
                cells=self.settings.context_tokens,
                sequences=self.settings.max_batch_size + PREFIX_SLOTS,
                batch_tokens=BATCH_TOKENS,
                threads=self.threads,
            )
            self._progress(LoadProgress("load", 0.3, f"loading {gguf.name} with llama.cpp"))
            scheduler = LlamaScheduler(
                lambda: LlamaModel(gguf, shape),
                max_rows=self.settings.max_batch_size,
                prefix_slots=PREFIX_SLOTS,
                pace_s=self.settings.stream_pace_ms / 1000.0,
            )
            try:
                model = await asyncio.wrap_future(scheduler.ready())
            except BaseException:
                await asyncio.to_thread(scheduler.close)
                raise
            self._model = model
            self._template = ChatTemplate(model.chat_template())
            self.scheduler = scheduler
            detail = f"{self.model_id} on CPU (llama.cpp, {self.threads} threads)"
            self._progress(LoadProgress("ready", 1.0, detail))

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        scheduler, model, template = self._require_started()
        validate_request(request)
        prompt = await asyncio.to_thread(prepare_prompt, model, template, request.messages)
        if len(prompt.ids) + 1 >= model.max_positions or len(prompt.ids) >= model.shape.cells:
            raise self._too_long(len(prompt.ids))
        job = LlamaJob(request, prompt, asyncio.get_running_loop())
        scheduler.submit(job)
        try:
            async for item in _coalesced(job, scheduler.nudge):
                if job.aborted and not job.finished:  # abort() ends the stream now
                    yield job.abort_chunk()
                    return
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    continue
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            if not job.finished:
                scheduler.abort(job.request_id)  # consumer left early: free the row

    def _health_detail(self, scheduler: LlamaScheduler) -> str:
        return (
            f"cpu llama.cpp, {self.threads} threads; running {scheduler.running}, "
            f"waiting {scheduler.waiting}; prefix cache {scheduler.cached_prefixes} entries, "
            f"{scheduler.prefix_hits} hits"
        )

    def _forget_model(self) -> None:
        self._model = None

    def _require_started(self) -> tuple[LlamaScheduler, LlamaModel, ChatTemplate]:
        if self.scheduler is None or self._model is None or self._template is None:
            raise EngineError("the engine is not started; call start() first")
        return self.scheduler, self._model, self._template


_NOTHING = object()


async def _coalesced(
    job: LlamaJob, nudge: Callable[[], None]
) -> AsyncIterator[GenerationChunk | BaseException | None]:
    """The job's queue, with chunks that piled up while the consumer was busy merged.

    When the consumer (an HTTP stream, a slow platform) falls behind, it then pays its
    per-chunk cost once for everything that is ready instead of once per token. Once the
    consumer has dealt with an item and asks for the next, the engine thread is told
    (``job.taken``; see ``LlamaScheduler._pace``).
    """
    carry: object = _NOTHING
    taken = 0
    while True:
        item = await job.queue.get() if carry is _NOTHING else carry
        carry = _NOTHING
        if item is not None:
            taken += 1
        while isinstance(item, GenerationChunk) and item.finish_reason is None:
            if job.queue.empty():
                break
            following = job.queue.get_nowait()
            if not isinstance(following, GenerationChunk):
                carry = following
                break
            taken += 1
            item = GenerationChunk(
                item.request_id,
                item.text + following.text,
                item.logprobs + following.logprobs,
                following.finish_reason,
                following.usage,
            )
        yield item  # type: ignore[misc]
        job.taken = taken
        nudge()


class ChatTemplate:
    """A GGUF's Jinja chat template, rendered the way transformers renders it.

    Without a template the prompt is ChatML (``<|im_start|>role ... <|im_end|>``).
    """

    def __init__(self, source: str | None) -> None:
        self.source = source
        self._compiled = _compile(source) if source else None

    def render(self, dialogue: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
        if self._compiled is None:
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in dialogue)
            return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")
        return str(
            self._compiled.render(messages=dialogue, add_generation_prompt=add_generation_prompt)
        )


@lru_cache(maxsize=8)
def _compile(source: str) -> Any:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    return environment.from_string(source)


def prepare_prompt(
    model: LlamaModel, template: ChatTemplate, messages: tuple[ChatMessage, ...]
) -> Prompt:
    """Render and tokenise ``messages``; mark the leading system messages as shareable."""
    dialogue = [{"role": m.role, "content": m.content_text} for m in messages]
    ids = model.tokenize(template.render(dialogue, add_generation_prompt=True))
    system = []
    for turn in dialogue:
        if turn["role"] != "system":
            break
        system.append(turn)
    prefix_len = 0
    if system and len(system) < len(dialogue):
        try:
            prefix = model.tokenize(template.render(system, add_generation_prompt=False))
        except Exception:  # some templates refuse a system-only conversation
            prefix = []
        if prefix and len(prefix) < len(ids) and ids[: len(prefix)] == prefix:
            prefix_len = len(prefix)
    return Prompt(tuple(ids), prefix_len)
