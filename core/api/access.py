"""Who may call what: one check for every HTTP route that needs a credential.

Three scopes, each with its own bearer credential, so they can be granted separately:

============  ==============================  =============================================
scope         credential                      when it is not set
============  ==============================  =============================================
inference     ``service.api_key``             open only when the server listens on a
              (``/v1/chat/completions``,      loopback address or ``service.
              ``/v1/models``)                 allow_open_inference`` says so; else refused
operator      ``service.operator_token``      refused (transcripts are personal data)
              (exports, the ops console)
metrics       ``service.metrics_token``       refused unless ``service.metrics_public``
============  ==============================  =============================================

:func:`check_access` is the only place these rules live; every route (and any later
operator page) asks it. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

from core.api.protocol import error_body


class Scope(StrEnum):
    """What a credential unlocks."""

    INFERENCE = "inference"
    OPERATOR = "operator"
    METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class AccessOptions:
    """The credentials of each scope, and what happens when one is not set.

    Attributes:
        api_key: Inference credential (``KEFU_SERVICE__API_KEY``).
        operator_token: Operator credential: exports and the ops console
            (``KEFU_SERVICE__OPERATOR_TOKEN``).
        metrics_token: Credential for ``/metrics`` (``KEFU_SERVICE__METRICS_TOKEN``).
        open_inference: Inference without a key is allowed (``main.py`` sets it for a
            loopback bind or ``service.allow_open_inference``).
        metrics_public: ``/metrics`` without a token is allowed.
    """

    api_key: str | None = field(default=None, repr=False)
    operator_token: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    open_inference: bool = False
    metrics_public: bool = False

    def credential(self, scope: Scope) -> str | None:
        return {
            Scope.INFERENCE: self.api_key,
            Scope.OPERATOR: self.operator_token,
            Scope.METRICS: self.metrics_token,
        }[scope]

    def open_without_credential(self, scope: Scope) -> bool:
        if scope is Scope.INFERENCE:
            return self.open_inference
        if scope is Scope.METRICS:
            return self.metrics_public
        return False


_SETTING = {
    Scope.INFERENCE: "KEFU_SERVICE__API_KEY",
    Scope.OPERATOR: "KEFU_SERVICE__OPERATOR_TOKEN",
    Scope.METRICS: "KEFU_SERVICE__METRICS_TOKEN",
}


def bearer_token(request: web.Request) -> str:
    """The ``Authorization: Bearer …`` token of a request ('' when there is none)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def check_access(request: web.Request, scope: Scope, options: AccessOptions) -> web.Response | None:
    """None when ``request`` may use ``scope``; else the refusal to send (OpenAI's shape).

    403 when the scope has no credential configured and is not open; 401 for a missing or
    wrong token.
    """
    wanted = options.credential(scope)
    if not wanted:
        if options.open_without_credential(scope):
            return None
        message = f"{scope.value} access is disabled: set {_SETTING[scope]} to enable it."
        return _refusal(403, message, f"{scope.value}_disabled")
    if hmac.compare_digest(bearer_token(request).encode(), wanted.encode()):
        return None
    return _refusal(401, f"Missing or invalid {scope.value} token.", "invalid_api_key")


def _refusal(status: int, message: str, code: str) -> web.Response:
    body = error_body(message, "invalid_request_error", code)
    return web.json_response(body, status=status, headers={"WWW-Authenticate": "Bearer"})
