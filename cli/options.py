"""Settings turned into the core's plain options (core never sees pydantic settings)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from config.settings import Settings
from core.answering.answer import AnswerSettings
from core.answering.draft import DraftBudget
from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.engines.options import EngineKind, EngineOptions, OcrOptions
from core.handoff.service import HandoffOptions
from core.media.images import ImageDecoder, ImageLimits
from core.media.ocr import OcrReader
from core.runtime.runtime import Role as ProcessRole
from core.runtime.runtime import RuntimeOptions


def image_limits(settings: Settings) -> ImageLimits:
    images = settings.images
    return ImageLimits(images.max_bytes, images.max_pixels, images.target_pixels)


def image_decoder(settings: Settings) -> ImageDecoder:
    """The process's one image decoder (adapters and ``/v1`` share its limits)."""
    images = settings.images
    return ImageDecoder(
        images.decode_threads, images.decode_memory_mb * 1024 * 1024, images.decode_processes
    )


def secret_values(node: object) -> list[str]:
    """Every secret value in the settings (what the log redaction scrubs)."""
    if isinstance(node, SecretStr):
        return [node.get_secret_value()]
    if isinstance(node, BaseModel):
        return [s for name in type(node).model_fields for s in secret_values(getattr(node, name))]
    if isinstance(node, dict | list | tuple):
        values = node.values() if isinstance(node, dict) else node
        return [s for value in values for s in secret_values(value)]
    return []


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ocr_options(settings: Settings) -> OcrOptions:
    return OcrOptions(**settings.ocr.model_dump())


def ocr_reader(settings: Settings) -> OcrReader:
    """The process's one OCR reader: the engine's OCR wrapper and the brains share it."""
    options = ocr_options(settings)
    return OcrReader(
        cache_size=options.cache_size,
        min_confidence=options.min_confidence,
        threads=options.threads,
    )


def engine_options(settings: Settings, **overrides: Any) -> EngineOptions:
    values = settings.engine.model_dump()
    key = settings.engine.api_key
    values.update(kind=EngineKind(values["kind"]), api_key=key.get_secret_value() if key else None)
    values.update(overrides)
    return EngineOptions(**values)


def access_options(settings: Settings) -> AccessOptions:
    """Credentials per scope; inference without a key only on loopback or when allowed."""
    service = settings.service

    def value(secret: SecretStr | None) -> str | None:
        return secret.get_secret_value() if secret else None

    return AccessOptions(
        api_key=value(service.api_key),
        operator_token=value(service.operator_token),
        metrics_token=value(service.metrics_token),
        open_inference=service.allow_open_inference or _loopback(service.host),
        metrics_public=service.metrics_public,
    )


def service_options(settings: Settings, decoder: ImageDecoder | None = None) -> ServiceOptions:
    store_dir = Path(settings.store.url.partition(":///")[2] or ".").parent
    return ServiceOptions(
        access=access_options(settings),
        allow_remote_images=settings.service.allow_remote_images,
        max_remote_image_bytes=settings.service.max_remote_image_bytes,
        default_max_tokens=settings.engine.max_new_tokens,
        image_limits=image_limits(settings),
        image_decoder=decoder or image_decoder(settings),
        health_paths=(str(store_dir),) if settings.store.url.startswith("sqlite") else (),
        min_free_bytes=settings.service.min_free_mb * 1024 * 1024,
    )


def runtime_options(
    settings: Settings, *, serve_http: bool = True, role: ProcessRole = ProcessRole.ALL
) -> RuntimeOptions:
    return RuntimeOptions(
        host=settings.service.host,
        port=settings.service.port,
        worker_concurrency=settings.worker.concurrency,
        lease_s=settings.worker.lease_s,
        delivery_lease_s=settings.worker.delivery_lease_s,
        poll_interval_s=settings.worker.poll_interval_s,
        delivery_schedule_s=tuple(settings.worker.delivery_retry_schedule_s),
        max_attempts=settings.worker.max_attempts,
        engine_retry_s=settings.worker.engine_retry_s,
        engine_handoff_after_s=settings.worker.engine_handoff_after_s,
        answer=AnswerSettings(
            draft_budget=DraftBudget(deadline_s=settings.bot.model_deadline_s),
            history_rounds=settings.bot.history_rounds,
            max_new_tokens=settings.engine.max_new_tokens,
            handoff_wait_minutes=settings.handoff.expected_wait_minutes,
            owner_quiet_minutes=settings.handoff.owner_quiet_minutes,
            hold_on_engine_error=True,
        ),
        serve_http=serve_http,
        role=role,
    )


def handoff_options(settings: Settings) -> HandoffOptions:
    h = settings.handoff
    return HandoffOptions(
        take_timeout_minutes=h.take_timeout_minutes,
        transcript_turns=h.transcript_turns,
        summary_messages=h.summary_messages,
        poll_interval_s=h.poll_interval_s,
    )
