"""The app factory: no module-level engine or settings; everything hangs off ``app.state``."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import Match

from ..errors import GreenTTSError
from ..serving.client import EngineClient
from .auth import OPEN_PATHS, OPS_PATHS, AuthGuard
from .config import ServerConfig
from .metrics import Metrics
from .routes import router
from .schemas import error_body
from .errors import HTTPError, status_for
from .serving import SpeechService

__all__ = ["create_app", "load_models"]

log = logging.getLogger("greentts.server")
MIB = 1024 * 1024


def create_app(config: ServerConfig | None = None, engine: EngineClient | None = None) -> FastAPI:
    """Build the app. ``engine``: an existing :class:`greentts.Engine` (kept open on shutdown); by default
    one is built from ``config.engine`` at start-up and closed at shutdown."""
    config = config or ServerConfig()
    keys = config.keys()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # streamed responses wait on segments in worker threads: allow one per admitted request
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(40, config.max_requests + 8)
        threading.Thread(target=load_models, args=(app,), name="greentts-load", daemon=True).start()
        try:
            yield
        finally:
            if owned:
                app.state.service.engine.close()

    owned = engine is None
    if engine is None:
        from ..engine import Engine

        engine = Engine(config.engine)
    upload_limit = int((config.max_upload_mb + 1) * MIB)  # the clip plus multipart overhead
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
    _document_limits(app, config)
    _errors(app, metrics)
    open_paths = OPEN_PATHS | (OPS_PATHS if config.public_ops else frozenset())
    app.add_middleware(_BodyCap, limits={"/v1/voices": upload_limit}, default=int(config.max_body_mb * MIB))
    app.add_middleware(AuthGuard, keys=keys, is_open=open_paths.__contains__)  # outside the cap: 401 first
    app.add_middleware(_CountRequests, metrics=metrics)  # outermost: counts the guards' answers too
    return app


class _BodyCap:
    """Pure ASGI middleware: a body declared (Content-Length) larger than its path's limit gets 413 before
    any of it is read; a body without a length is cut off with 413 once it passes the limit (Starlette's
    ``RequestBodyLimitMiddleware``, which FastAPI's body parsing recognises)."""

    def __init__(self, app: Any, limits: dict[str, int], default: int) -> None:
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
            limit = self.limits.get(scope.get("path", ""), self.default)
            if declared is not None and declared.isdigit() and int(declared) > limit:
                body = error_body(f"the request body is {int(declared)} bytes; the limit here is {limit}",
                                  code="body_too_large")
                await JSONResponse(body, status_code=413)(scope, receive, send)
                return
            await RequestBodyLimitMiddleware(self.app, limit)(scope, receive, send)
            return
        await self.app(scope, receive, send)


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


def load_models(app: FastAPI) -> None:
    """Load and warm the models (a thread at start-up); sets ``app.state.ready``, or ``load_error``. Does
    nothing once ready (a Ray Serve replica loads before its app starts)."""
    if app.state.ready.is_set():
        return
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

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods for the path
            headers["Allow"] = ", ".join(_methods(app, request.scope))
        return reply(request, exc.status_code, error_body(str(exc.detail), code=f"http_{exc.status_code}"), headers)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:  # a bug: JSON, never a text/plain 500
        log.exception("%s %s failed", request.method, request.url.path)
        return reply(request, 500, error_body(f"internal error ({type(exc).__name__}); the server log has the "
                                              "details", "server_error"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        param = None
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            param = param or (".".join(loc) or None)
            problems.append(f"{'.'.join(loc) or 'body'}: {e.get('msg')}")
        return reply(request, 400, error_body("invalid request: " + "; ".join(problems), param=param))


def _methods(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route serves at this path."""
    methods: set[str] = set()
    for route in app.routes:
        match, _ = route.matches({**scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _document_limits(app: FastAPI, config: ServerConfig) -> None:
    """The OpenAPI document states this server's configured limits (longest input, script)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            props = schema["components"]["schemas"]
            props["SpeechRequest"]["properties"]["input"]["maxLength"] = config.max_input_chars
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from .._version import __version__

    return __version__
