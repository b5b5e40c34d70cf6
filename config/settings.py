"""Typed settings: environment variables over one YAML file of defaults.

Precedence: init kwargs > environment (``KEFU_`` prefix, ``__`` between levels) >
``config/defaults.yaml`` (or the file named by ``KEFU_CONFIG``). Secrets are accepted from
the environment only: a secret-looking key in the YAML is a :class:`SettingsError`.

Each platform in :data:`adapters.registry.PLATFORMS` adds a section named after it, typed by
its own settings model, so a new platform needs no change here. This package imports
nothing from ``core``: ``main.py`` turns settings into the core's plain options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, create_model
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from adapters import registry
from config.handoff import HandoffSettings

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
SECRET_MARKERS = ("secret", "password", "api_key", "apikey")


class Section(BaseModel):
    """A settings section: a key it does not know is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StoreSettings(Section):
    """``url``: ``sqlite:///path`` (the default, no service needed) or ``postgresql+asyncpg://…``.

    ``sqlite+aiosqlite:///path`` is accepted as the same SQLite file.
    """

    url: str = "sqlite:///.kefu/kefu.db"


class EngineSettings(Section):
    """Which engine answers.

    Attributes:
        kind: ``auto`` (default: ``llamacpp`` for a GGUF on CPU, else ``transformers``),
            ``llamacpp`` (a GGUF served by llama.cpp in-process, the fast CPU path),
            ``transformers`` (checkpoints, Qwen-VL, the GPU) or ``openai`` (a remote
            OpenAI-compatible server).
        model: ``embedded`` for the SmolLM2 GGUF, a ``.gguf`` file, or a local checkpoint
            directory.
        device: ``auto`` picks CUDA bf16 when available, else CPU.
        dtype: ``auto``, ``float32`` or ``bfloat16``.
        cache_dir: Where the dequantised embedded model is cached.
        max_batch_size: Most requests decoded together.
        max_wait_ms: How long the batcher waits to fill a batch.
        min_pixels / max_pixels: Visual-token budget for Qwen-VL models.
        threads: CPU threads for inference; ``None`` picks the measured default (every
            core for llama.cpp, one less than the cores for torch).
        context_tokens: KV-cache cells shared by all running requests (llama.cpp).
        stream_pace_ms: Longest wait before a decode step for the streams to take the last
            step's tokens, so streaming does not preempt llama.cpp's threads (0: no wait).
        base_url / api_key / remote_model: For ``kind: openai``.
    """

    kind: Literal["auto", "llamacpp", "transformers", "openai"] = "auto"
    model: str = "embedded"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    cache_dir: str = ".kefu/models"
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    max_new_tokens: int = 256
    min_pixels: int = 256 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    threads: int | None = Field(default=None, ge=1)
    context_tokens: int = Field(default=16384, ge=256)
    stream_pace_ms: float = Field(default=4.0, ge=0.0, le=100.0)
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: SecretStr | None = None
    remote_model: str = "kefu"
    remote_supports_images: bool = True
    timeout_s: float = 120.0


class OcrSettings(Section):
    """Reading photos for text-only models (RapidOCR, Chinese and English)."""

    cache_size: int = 128
    min_confidence: float = 0.5
    threads: int | None = None
    max_chars_per_image: int = 1500


class ServiceSettings(Section):
    """The HTTP server and who may use it.

    Attributes:
        api_key: Inference credential (``/v1/chat/completions``, ``/v1/models``). Unset:
            inference is open only when ``host`` is a loopback address or
            ``allow_open_inference`` is true; otherwise every inference request is refused.
        operator_token: Operator credential (conversation exports, the ops console).
            Unset: those routes are refused.
        metrics_token: Credential for ``/metrics``. Unset: refused unless ``metrics_public``.
        min_free_mb: ``/healthz`` fails when the store's disk has less free space.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: SecretStr | None = None
    # Opens the operator desk (/ops); from KEFU_SERVICE__OPERATOR_TOKEN only. Unset: /ops is
    # refused and handoffs do not go to the web desk.
    operator_token: SecretStr | None = None
    metrics_token: SecretStr | None = None
    allow_open_inference: bool = False
    metrics_public: bool = False
    min_free_mb: int = Field(64, ge=0)
    allow_remote_images: bool = False
    max_remote_image_bytes: int = 10 * 1024 * 1024
    max_body_bytes: int = 40 * 1024 * 1024


class WorkerSettings(Section):
    """Answering and delivering.

    Attributes:
        max_attempts: A turn whose answering fails (or kills the process) this often is
            dead-lettered: the customer gets an apology, ``main.py deadletters`` lists it.
        engine_retry_s: While the engine is down or timing out, a turn waits this long
            between tries (the customer is told once).
        engine_handoff_after_s: A turn that waited this long for the engine goes to staff.
    """

    concurrency: int = 16
    lease_s: float = 60.0
    poll_interval_s: float = 0.5
    delivery_retry_schedule_s: list[float] = [1, 5, 30, 120]
    delivery_lease_s: float = Field(15.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    engine_retry_s: float = Field(5.0, gt=0)
    engine_handoff_after_s: float = Field(300.0, ge=0)


class LimitsSettings(Section):
    """Rate limits on answering (token buckets); every message is still stored at once.

    A customer over ``customer_per_minute`` (with ``customer_burst`` saved up) is told once,
    and their extra messages are answered together when the bucket refills. The platform
    bucket caps answers per platform (all customers of it together). With ``redis_url`` the
    buckets live in Redis and hold across replicas; without it, in each process.
    """

    enabled: bool = True
    redis_url: str | None = None
    customer_per_minute: float = Field(20.0, gt=0)
    customer_burst: int = Field(8, ge=1)
    platform_per_minute: float = Field(6000.0, gt=0)
    platform_burst: int = Field(300, ge=1)


class ImageSettings(Section):
    """Customers' photos: size limits, and how decoding may use the machine.

    Attributes:
        decode_threads: Photos decoded at once.
        decode_memory_mb: Memory the decodes in flight may hold together (estimated from
            each image's header before decoding); a photo that alone needs more is refused.
        decode_processes: Decode in ``decode_threads`` worker processes started with the
            server (true) instead of on threads inside it (false). Threads inside the server
            stall its event loop and its database thread while large photos decode (heap,
            address-space and GIL contention), which delays every other request's
            acknowledgement; each process holds ~26 MB of memory while idle.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    target_pixels: int = 1280 * 1280
    decode_threads: int = Field(2, ge=1)
    decode_memory_mb: int = Field(384, ge=16)
    decode_processes: bool = True


class BotSettings(Section):
    """Which bot definitions answer customers and staff (folders under ``bots/``)."""

    customer: str = "shop"
    staff: str = "staff"
    history_rounds: int = 5
    knowledge_dir: str | None = None  # a shop's own knowledge folder; None = the demo shop
    # The model path's time budget: past it the customer gets the handoff notice instead.
    model_deadline_s: float = Field(default=4.0, gt=0)


class SettingsError(ValueError):
    """The settings file or a setting is invalid (``main.py`` reports it as a ConfigError)."""


class Settings(BaseSettings):
    """All kefu settings; each registered platform's section comes from :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    log_level: str = "INFO"
    store: StoreSettings = StoreSettings()
    engine: EngineSettings = EngineSettings()
    service: ServiceSettings = ServiceSettings()
    worker: WorkerSettings = WorkerSettings()
    images: ImageSettings = ImageSettings()
    ocr: OcrSettings = OcrSettings()
    bot: BotSettings = BotSettings()
    handoff: HandoffSettings = HandoffSettings()
    limits: LimitsSettings = LimitsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    def platform(self, name: str) -> Any:
        """The settings section of platform ``name`` (its own settings model).

        Raises:
            KeyError: no platform ``name`` is registered.
        """
        if all(entry.name != name for entry in registry.PLATFORMS):
            raise KeyError(name)
        return getattr(self, name)


def _is_secret_key(lowered: str) -> bool:
    return (
        lowered == "token"
        or lowered.endswith("_token")
        or any(marker in lowered for marker in SECRET_MARKERS)
    )


def _reject_secrets(node: Any, path: str, source: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            lowered = str(key).lower()
            if _is_secret_key(lowered) and value not in (None, "", [], {}):
                raise SettingsError(
                    f"{source}: '{where}' looks like a secret; set it in the environment "
                    f"as KEFU_{where.upper().replace('.', '__')} instead"
                )
            _reject_secrets(value, where, source)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a settings YAML file, refusing secrets in it.

    Raises:
        SettingsError: unreadable YAML, a non-mapping top level, or a secret in the file.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: top level must be a mapping")
    _reject_secrets(data, "", path)
    return data


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        named = os.environ.get("KEFU_CONFIG")
        path = Path(named) if named else DEFAULTS_FILE
        if named and not path.is_file():  # a typo must not silently run on the defaults
            raise SettingsError(f"KEFU_CONFIG names {path}, which is not a file")
        return load_yaml(path) if path.exists() else {}


def settings_class() -> type[Settings]:
    """:class:`Settings` with one section per registered platform."""
    sections: dict[str, Any] = {}
    for entry in registry.PLATFORMS:
        model = entry.settings_class()
        sections[entry.name] = (_strict(model), model())
    return cast(type[Settings], create_model("KefuSettings", __base__=Settings, **sections))


def _strict(model: type[BaseModel]) -> Any:
    """A platform's section type that refuses keys its model does not know (the model is
    the adapter's own and may ignore extras; an instance of it is accepted as it is)."""

    def known_keys_only(value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(model.model_fields))
            if unknown:
                raise ValueError(f"unknown setting(s): {', '.join(map(str, unknown))}")
        return value

    return Annotated[model, BeforeValidator(known_keys_only)]


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and the YAML file.

    Raises:
        SettingsError: the YAML is invalid or holds a secret.
        pydantic.ValidationError: a setting has the wrong type or an unknown name.
    """
    return settings_class()(**overrides)
