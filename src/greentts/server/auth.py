"""Optional API keys: ``Authorization: Bearer KEY``, compared in constant time against every key."""

from __future__ import annotations

import hmac

from fastapi import Request

from .serving import HTTPError, namespace

__all__ = ["caller_namespace"]


async def caller_namespace(request: Request) -> str:
    """The caller's voice namespace ("" without auth); 401 in OpenAI's error shape for a bad key."""
    keys: tuple[str, ...] = request.app.state.auth
    if not keys:
        return ""
    header = request.headers.get("authorization", "")
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
