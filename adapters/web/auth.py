"""The operator token: the one check in front of everything on ``/ops``.

An operator signs in once with the token (``KEFU_SERVICE__OPERATOR_TOKEN``); the browser
then holds an HttpOnly cookie derived from it (never the token itself), which the page's
requests and its event stream carry. Scripts may send ``Authorization: Bearer <token>``.
Without a valid one the answer is a bare 401 that names nothing of any customer.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

OPS_COOKIE = "kefu_ops"


def session_value(token: str) -> str:
    """The cookie that stands for ``token`` (changing the token signs everyone out)."""
    return hmac.new(token.encode(), b"kefu-operator-session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str | None) -> bool:
    """``given`` is the operator token (compared in constant time). No token: nothing is."""
    return bool(token) and hmac.compare_digest(given.encode(), (token or "").encode())


def operator_allowed(request: web.Request, token: str | None) -> bool:
    """Whether ``request`` carries the operator token (or its cookie). No token: nobody."""
    if not token:
        return False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and token_matches(header.removeprefix("Bearer "), token):
        return True
    cookie = request.cookies.get(OPS_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def refused() -> web.Response:
    """The 401: the same bytes whatever was asked."""
    return web.json_response({"error": "operator token required"}, status=401)
