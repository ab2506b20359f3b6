"""The HTTP server (``greentts serve``): OpenAI-compatible speech API, voices, metrics and a web UI.

Needs the ``server`` extra (``pip install greentts[server]``). The app is built by :func:`create_app`;
nothing is created at import::

    from greentts.server import create_app, ServerConfig
    app = create_app(ServerConfig(api_keys=("secret",)))

Layout: ``config`` (ServerConfig), ``schemas`` (request/response models), ``serving`` (the speech
service between HTTP and the engine), ``metrics`` (Prometheus), ``routes`` (thin handlers), ``app``
(the factory), ``web/`` (the UI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServerConfig

if TYPE_CHECKING:
    from ..serving.client import EngineClient

__all__ = ["create_app", "ServerConfig"]

INSTALL_HINT = "the server needs the 'server' extra: pip install 'greentts[server]'"


def create_app(config: ServerConfig | None = None, engine: EngineClient | None = None) -> Any:
    """Build the FastAPI app (see :func:`greentts.server.app.create_app`)."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
    except ImportError as exc:
        from ..errors import InputError

        raise InputError(f"{INSTALL_HINT} ({exc.name} is missing)") from None
    from .app import create_app as _create

    return _create(config, engine)
