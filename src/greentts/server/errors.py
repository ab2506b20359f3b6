"""HTTP errors with OpenAI's error fields, the status of each greentts error, and API-key namespaces."""

from __future__ import annotations

import hashlib
import re

from ..errors import EngineClosed, GreenTTSError, InputError, ModelError, Overloaded, VoiceError

__all__ = ["HTTPError", "TooBusy", "status_for", "namespace", "namespaced"]


class HTTPError(Exception):
    """An error with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}


class TooBusy(HTTPError):
    pass


def status_for(exc: GreenTTSError) -> tuple[int, str]:
    """HTTP status and OpenAI error type for a greentts error."""
    if isinstance(exc, Overloaded):
        return 429, "rate_limit_error"
    if isinstance(exc, EngineClosed):
        return 503, "server_error"
    if isinstance(exc, (InputError, VoiceError)):
        return 400, "invalid_request_error"
    if isinstance(exc, ModelError):
        return 500, "server_error"
    return 500, "server_error"


def namespace(key: str | None) -> str:
    """Enrolled voices of an API key live under ``k<8 hex>_``; without auth there is no namespace."""
    return "" if not key else "k" + hashlib.sha256(key.encode()).hexdigest()[:8] + "_"


def namespaced(name: str) -> bool:
    """Does ``name`` carry some API key's :func:`namespace` prefix?"""
    return _NAMESPACE.match(name) is not None


_NAMESPACE = re.compile(r"k[0-9a-f]{8}_")
