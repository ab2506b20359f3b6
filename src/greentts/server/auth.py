"""Optional API keys: ``Authorization: Bearer KEY``, compared in constant time against every key.

Keys are checked twice on purpose, by two small pieces that share :func:`authenticate`:
:class:`AuthGuard` (ASGI middleware) refuses a bad key before any byte of the body is read, and the
:func:`caller_namespace` dependency gives each route the caller's voice namespace.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from .schemas import error_body
from .errors import HTTPError, namespace

__all__ = ["caller_namespace", "authenticate", "AuthGuard", "OPEN_PATHS", "OPS_PATHS"]

# Open to anyone even when keys are set: liveness, readiness and the web page (it asks for the key).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/"})
# Open only with ServerConfig.public_ops: metrics and the API documents.
OPS_PATHS = frozenset({"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def authenticate(keys: tuple[str, ...], header: str) -> str:
    """The voice namespace of the key in ``header`` ("" without auth); HTTPError 401 for a bad key."""
    if not keys:
        return ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    ok = False
    if scheme.lower() == "bearer" and token:
        for key in keys:  # compare with every key, so timing does not tell which matched
            ok |= hmac.compare_digest(token.encode(), key.encode())
    if not ok:
        msg = "missing API key: send 'Authorization: Bearer KEY'" if not token else "invalid API key"
        raise HTTPError(401, msg, "invalid_request_error", code="invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"})
    return namespace(token)


async def caller_namespace(request: Request) -> str:
    """The caller's voice namespace ("" without auth); 401 in OpenAI's error shape for a bad key."""
    return authenticate(request.app.state.auth, request.headers.get("authorization", ""))


class AuthGuard:
    """Pure ASGI middleware: a request to a protected path with a bad key gets 401 before its body is read."""

    def __init__(self, app: Any, keys: tuple[str, ...], is_open: Callable[[str], bool]) -> None:
        self.app, self.keys, self.is_open = app, keys, is_open

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.keys and not self.is_open(scope.get("path", "")):
            header = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"authorization"), "")
            try:
                authenticate(self.keys, header)
            except HTTPError as exc:
                body = error_body(exc.message, exc.type, exc.param, exc.code)
                await JSONResponse(body, status_code=exc.status, headers=exc.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)
