"""The app factory: no module-level engine or settings; everything hangs off ``app.state``."""

from __future__ import annotations

import threading
import time
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import GreenTTSError
from .config import ServerConfig
from .metrics import Metrics
from .routes import router
from .schemas import error_body
from .serving import HTTPError, SpeechService, status_for

__all__ = ["create_app"]


def create_app(config: ServerConfig | None = None, engine: Any = None) -> FastAPI:
    """Build the app. ``engine``: an existing :class:`greentts.Engine` (kept open on shutdown); by default
    one is built from ``config.engine`` at start-up and closed at shutdown."""
    config = config or ServerConfig()
    keys = config.keys()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # streamed responses wait on segments in worker threads: allow one per admitted request
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(40, config.max_requests + 8)
        threading.Thread(target=_load, args=(app,), name="greentts-load", daemon=True).start()
        try:
            yield
        finally:
            if owned:
                app.state.service.engine.close()

    owned = engine is None
    if engine is None:
        from ..engine import Engine

        engine = Engine(config.engine)
    app = FastAPI(title="greentts", version=_version(), lifespan=lifespan,
                  description="OpenAI-compatible speech synthesis that reports what each request costs.")
    metrics = Metrics(engine)
    app.state.service = SpeechService(engine, config, metrics)
    app.state.auth = keys
    app.state.ready = threading.Event()
    app.state.load_error = None
    app.state.load_s = None
    app.state.config = config
    app.include_router(router)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["*"])
    _errors(app, metrics)
    app.add_middleware(_CountRequests, metrics=metrics)
    return app


class _CountRequests:
    """Pure ASGI middleware (streaming-safe): counts every HTTP request by route template and status."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            self.metrics.requests.labels(getattr(route, "path", "unmatched"), str(status["code"])).inc()


def _load(app: FastAPI) -> None:
    svc = app.state.service
    t = time.perf_counter()
    try:
        if app.state.config.warm_up:
            svc.engine.warm_up()
        app.state.load_s = round(time.perf_counter() - t, 3)
        svc.metrics.model_load.set(app.state.load_s)
        app.state.ready.set()
    except Exception as exc:  # noqa: BLE001 - reported by /readyz
        app.state.load_error = f"{type(exc).__name__}: {exc}"


def _errors(app: FastAPI, metrics: Metrics) -> None:
    def reply(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(HTTPError)
    async def http_error(request: Request, exc: HTTPError) -> JSONResponse:
        return reply(request, exc.status, error_body(exc.message, exc.type, exc.param, exc.code), exc.headers)

    @app.exception_handler(GreenTTSError)
    async def greentts_error(request: Request, exc: GreenTTSError) -> JSONResponse:
        status, kind = status_for(exc)
        return reply(request, status, error_body(str(exc), kind))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        param = None
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            param = param or (".".join(loc) or None)
            problems.append(f"{'.'.join(loc) or 'body'}: {e.get('msg')}")
        return reply(request, 400, error_body("invalid request: " + "; ".join(problems), param=param))


def _version() -> str:
    from .. import __version__

    return __version__
