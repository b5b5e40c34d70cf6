"""A thin, typed layer over llama.cpp's C API, as shipped prebuilt by ``ik-llama-cpp-python``.

The wheel ships ``libllama.so`` (ik_llama.cpp, a llama.cpp fork with faster CPU kernels),
its ``llama.h`` and ctypes structs that match it. kefu uses the C API directly rather than
the wheel's high-level class, because its scheduler needs what that class hides: one
context holding many sequences, KV-cache sequence copies (a cached system prompt is
shared by every row without copying it), and the raw logits of every row (logprobs and
top-k alternatives come from them).

Everything here runs on the engine thread; nothing is thread-safe.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelLoadError

log = logging.getLogger(__name__)
PACKAGE = "ik_llama_cpp"
INSTALL_HINT = "pip install ik-llama-cpp-python==0.1.5"
_LOG_LEVELS = {2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}
# The wheel's build computes wrong logits when one forward pass (a "ubatch") holds 32 or
# more tokens (its large-batch matmul path; checked against transformers and against
# token-by-token decoding). llama.cpp splits every call into ubatches of at most this
# many tokens, which keeps all passes on the exact path at about the same speed.
UBATCH_TOKENS = 16


def available() -> bool:
    """True when the prebuilt llama.cpp library can be imported on this machine."""
    try:
        _api()
    except ModelLoadError:
        return False
    return True


_API: Any = None


def _api() -> Any:
    """The wheel's ctypes module, with the extra functions kefu needs declared on it."""
    global _API
    if _API is not None:
        return _API
    try:
        from ik_llama_cpp import _ctypes_api as api
    except (ImportError, OSError, FileNotFoundError) as exc:
        raise ModelLoadError(
            f"the llama.cpp engine needs the prebuilt library ({exc}); install it with: "
            f"{INSTALL_HINT}, or set engine.kind to 'transformers'"
        ) from exc
    lib = api._lib
    c = ctypes
    pointer = c.c_void_p
    signatures: dict[str, tuple[list[Any], Any]] = {
        "llama_kv_cache_seq_rm": ([pointer, c.c_int32, c.c_int32, c.c_int32], c.c_bool),
        "llama_kv_cache_seq_cp": ([pointer, c.c_int32, c.c_int32, c.c_int32, c.c_int32], None),
        "llama_get_logits_ith": ([pointer, c.c_int32], c.POINTER(c.c_float)),
        "llama_n_ctx_train": ([pointer], c.c_int32),
        "llama_n_vocab": ([pointer], c.c_int32),
        "llama_set_n_threads": ([pointer, c.c_uint32, c.c_uint32], None),
        "llama_model_chat_template": ([pointer, c.c_char_p], c.c_char_p),
        "llama_token_get_attr": ([pointer, c.c_int32], c.c_int),
        "llama_print_system_info": ([], c.c_char_p),
        "llama_log_set": ([c.c_void_p, c.c_void_p], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    _route_logs(lib)
    api.llama_backend_init()
    _API = api
    return api


_LOG_CALLBACK: Any = None  # kept alive for as long as the library may call it


def _route_logs(lib: Any) -> None:
    """llama.cpp logs to stderr by default; send warnings and errors to Python logging."""
    global _LOG_CALLBACK
    callback_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

    def forward(level: int, text: bytes | None, _user: Any) -> None:
        python_level = _LOG_LEVELS.get(level, logging.DEBUG)
        if text and log.isEnabledFor(python_level):
            log.log(python_level, "llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = callback_type(forward)
    lib.llama_log_set(ctypes.cast(_LOG_CALLBACK, ctypes.c_void_p), None)


@dataclass(frozen=True, slots=True)
class ContextShape:
    """How the context is sized.

    Attributes:
        cells: KV-cache cells shared by all sequences (prompt + generated tokens).
        sequences: Distinct sequences (batch rows plus cached prefixes).
        batch_tokens: Most tokens fed to one ``llama_decode`` call.
        threads: CPU threads for decoding and prompt processing.
    """

    cells: int
    sequences: int
    batch_tokens: int
    threads: int


class LlamaModel:
    """One GGUF model and one context with many sequences (engine thread only).

    Raises:
        ModelLoadError: the library is missing or the GGUF cannot be loaded.
    """

    def __init__(self, gguf: Path, shape: ContextShape) -> None:
        api = _api()
        self._api = api
        self._lib = api._lib
        self.shape = shape
        params = api.llama_model_default_params()
        params.n_gpu_layers = 0
        model = api.llama_model_load_from_file(str(gguf).encode(), params)
        if not model:
            raise ModelLoadError(f"llama.cpp cannot load {gguf}")
        self._model = model
        ctx_params = api.llama_context_default_params()
        ctx_params.n_ctx = shape.cells
        ctx_params.n_batch = shape.batch_tokens
        ctx_params.n_ubatch = min(shape.batch_tokens, UBATCH_TOKENS)
        ctx_params.n_seq_max = shape.sequences
        ctx_params.n_threads = shape.threads
        ctx_params.n_threads_batch = shape.threads
        ctx_params.defrag_thold = 0.1  # keep used cells packed: attention spans up to the last one
        # ik_llama.cpp's flash attention mixes up rows of different sequences in one
        # prompt batch (wrong logits, or an abort); the plain attention path is exact
        ctx_params.flash_attn = False
        ctx = api.llama_init_from_model(model, ctx_params)
        if not ctx:
            api.llama_free_model(model)
            raise ModelLoadError(f"llama.cpp cannot create a context for {gguf}")
        self._ctx = ctx
        self.vocab_size = int(self._lib.llama_n_vocab(model))
        self.max_positions = int(self._lib.llama_n_ctx_train(model))
        self._batch = api.llama_batch_init(shape.batch_tokens, 0, 1)
        self._pieces: dict[int, bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)

    # ---- vocabulary ----------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``; special tokens such as ``<|im_start|>`` are recognised."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (ctypes.c_int32 * capacity)()
        count = self._api.llama_tokenize(
            self._model, data, len(data), tokens, capacity, False, True
        )
        if count < 0:  # cannot happen with one token per byte at most, but be exact
            tokens = (ctypes.c_int32 * -count)()
            count = self._api.llama_tokenize(
                self._model, data, len(data), tokens, -count, False, True
            )
        return list(tokens[:count])

    def piece(self, token: int) -> bytes:
        """The bytes token ``token`` stands for; empty for control tokens (``<|im_end|>``)."""
        cached = self._pieces.get(token)
        if cached is None:
            buffer = self._piece_buffer
            size = self._api.llama_token_to_piece(self._model, token, buffer, len(buffer), 0, False)
            cached = buffer.raw[: max(0, size)]
            self._pieces[token] = cached
        return cached

    def is_end(self, token: int) -> bool:
        return bool(self._api.llama_token_is_eog(self._model, token))

    def chat_template(self) -> str | None:
        raw = self._lib.llama_model_chat_template(self._model, None)
        return raw.decode("utf-8") if raw else None

    def system_info(self) -> str:
        return str(self._lib.llama_print_system_info().decode("utf-8", "replace"))

    # ---- KV cache ------------------------------------------------------------------

    def forget(self, seq: int) -> None:
        """Drop every cell of sequence ``seq``."""
        self._lib.llama_kv_cache_seq_rm(self._ctx, seq, -1, -1)

    def share(self, source: int, target: int) -> None:
        """Make ``target`` see all of ``source``'s cells (no copy: cells get a second owner)."""
        self._lib.llama_kv_cache_seq_cp(self._ctx, source, target, -1, -1)

    # ---- forward passes ------------------------------------------------------------

    def decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """Run one ``llama_decode`` over (token, position, sequence, wants logits) entries.

        Raises:
            RuntimeError: llama.cpp refused the batch (no free KV cell, or a failure).
        """
        if len(entries) > self.shape.batch_tokens:
            raise ValueError(f"{len(entries)} tokens exceed the batch of {self.shape.batch_tokens}")
        batch = self._batch
        batch.n_tokens = len(entries)
        for index, (token, position, seq, logits) in enumerate(entries):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = seq
            batch.logits[index] = 1 if logits else 0
        status = self._api.llama_decode(self._ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")

    def logits(self, indices: Sequence[int]) -> np.ndarray:
        """The logits of the last decode at these batch positions, ``[len(indices), vocab]``.

        Read row by row (``llama_get_logits_ith``): the library may store outputs in
        another order than the batch's.
        """
        rows = np.empty((len(indices), self.vocab_size), dtype=np.float32)
        for row, index in enumerate(indices):
            pointer = self._lib.llama_get_logits_ith(self._ctx, index)
            if not pointer:
                raise RuntimeError(f"llama.cpp has no logits for batch position {index}")
            rows[row] = np.ctypeslib.as_array(pointer, shape=(self.vocab_size,))
        return rows

    def close(self) -> None:
        api = self._api
        if self._ctx:
            api.llama_batch_free(self._batch)
            api.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            api.llama_free_model(self._model)
            self._model = None
