"""Serving on Ray Serve: ``greentts serve --ray`` runs the app ``greentts serve`` runs (:func:`create_app`) as
Ray Serve replicas behind Serve's HTTP proxy, on one machine or a cluster.

- Each replica is one process with its own engine (as many scheduler workers as it has CPUs), admission
  (429 + Retry-After), energy meter and Prometheus registry. It loads and warms its models before Serve
  routes a request to it, and a replica whose models fail to load is restarted by Serve.
- Enrolled voices are files in ``engine.voices_dir``: every replica reads the same folder (on several nodes
  it must be a shared file system), so a voice enrolled through one replica speaks through all of them.
- What a later request may ask any replica for, a finished request's record (the ``x-greentts-energy``
  link) and an enrollment job's progress, is published to one small Ray actor (:class:`Directory`), so
  those lookups work whichever replica answers them.
- ``/metrics`` is the registry of the replica that answers. Each replica also serves its own registry on a
  port of its node (same API keys) and is listed by ``GET /metrics/targets`` in Prometheus' HTTP service
  discovery format, so Prometheus scrapes every replica. Every response names its replica in
  ``x-greentts-replica``.

Needs the ``ray-serve`` extra: ``pip install 'greentts[ray-serve]'``; every node needs greentts installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..errors import GreenTTSError, InputError
from ..models.assets import default_cache_dir
from ..serving.records import Snapshot, forget_id, given_id
from ..voices.store import default_voices_dir
from .app import create_app, load_models
from .auth import authenticate
from .config import ServerConfig
from .errors import HTTPError
from .schemas import error_body

__all__ = ["Directory", "RayServeOptions", "deploy", "parse_autoscale", "serve_forever", "shutdown"]

APP = "greentts"
NAMESPACE = "greentts"
DIRECTORY = "greentts-directory"
LOOKUP_WAIT_S = 1.0  # a record published by another replica a moment ago may still be on its way


class Directory:
    """A Ray actor (no CPU): the latest records and jobs every replica published, and the replicas'
    metrics endpoints."""

    def __init__(self, keep: int) -> None:
        self.keep = max(1, keep)
        self.items: dict[str, OrderedDict[str, tuple[str, dict[str, Any]]]] = {"record": OrderedDict(),
                                                                               "job": OrderedDict()}
        self.targets: dict[str, dict[str, Any]] = {}

    def put(self, kind: str, key: str, owner: str, view: dict[str, Any]) -> None:
        items = self.items[kind]
        items[key] = (owner, view)
        items.move_to_end(key)
        while len(items) > self.keep:
            items.popitem(last=False)

    def get(self, kind: str, key: str) -> tuple[str, dict[str, Any]] | None:
        return self.items[kind].get(key)

    def register(self, replica: str, target: str, labels: dict[str, str]) -> None:
        self.targets[replica] = {"targets": [target], "labels": labels}

    def unregister(self, replica: str) -> None:
        self.targets.pop(replica, None)

    def service_discovery(self) -> list[dict[str, Any]]:
        return list(self.targets.values())


class _Shared:
    """:class:`~greentts.serving.records.SharedState` over the :class:`Directory` actor."""

    def __init__(self, directory: Any) -> None:
        self.directory = directory

    def put(self, kind: str, key: str, snapshot: Snapshot) -> None:
        self.directory.put.remote(kind, key, snapshot.owner, snapshot.view)  # ordered per replica; not awaited

    def get(self, kind: str, key: str) -> Snapshot | None:
        import ray

        deadline = time.monotonic() + LOOKUP_WAIT_S
        while True:
            found = ray.get(self.directory.get.remote(kind, key), timeout=10)
            if found is not None:
                return Snapshot(*found)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


class _NameReplica:
    """Pure ASGI middleware: every response says which replica answered (``x-greentts-replica``), and a
    request's record takes the id Serve's proxy gave it, whose ``x-request-id`` header the proxy adds to the
    response (the app's own would make two)."""

    def __init__(self, app: Any, name: str) -> None:
        self.app, self.header = app, (b"x-greentts-replica", name.encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        adopted = given_id(given.decode("latin-1"))

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if not adopted or k != b"x-request-id"]
                message = {**message, "headers": [*headers, self.header]}
            await send(message)

        try:
            await self.app(scope, receive, named)
        finally:
            forget_id(adopted)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _metrics_wsgi(registry: Any, keys: tuple[str, ...]) -> Any:
    """A WSGI app serving ``registry``; with ``keys``, only to a request the app's own check
    (:func:`~greentts.server.auth.authenticate`) lets through, answered in the app's error shape."""
    from prometheus_client import make_wsgi_app

    inner = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            authenticate(keys, environ.get("HTTP_AUTHORIZATION", ""))
        except HTTPError as exc:
            body = json.dumps(error_body(exc.message, exc.type, exc.param, exc.code)).encode()
            start_response(f"{exc.status} {HTTPStatus(exc.status).phrase}", [("Content-Type", "application/json"), *exc.headers.items()])
            return [body]
        return inner(environ, start_response)

    return app


class Replica:
    """One Ray Serve replica: the server app with its own engine, loaded and warm before it takes traffic."""

    async def __init__(self, config: dict[str, Any], metrics_port: int = 0) -> None:
        import ray
        from ray import serve

        cfg = ServerConfig.model_validate(config)
        self.name = serve.get_replica_context().replica_id.unique_id
        self.server = create_app(cfg)
        self.server.add_middleware(_NameReplica, name=self.name)
        self.directory = directory(cfg.keep_reports)
        self.server.state.service.share(_Shared(self.directory))
        self.server.add_api_route("/metrics/targets", self._targets, methods=["GET"],
                               summary="Every replica's metrics endpoint (Prometheus HTTP service discovery)")
        await asyncio.to_thread(load_models, self.server)
        if self.server.state.load_error:
            raise RuntimeError(f"the models did not load: {self.server.state.load_error}")
        host = ray.util.get_node_ip_address()
        self.metrics_http = make_server(host, metrics_port, _metrics_wsgi(self.server.state.service.metrics.registry,
                                                                     () if cfg.public_ops else cfg.keys()),
                                   server_class=_MetricsServer, handler_class=_QuietHandler)
        threading.Thread(target=self.metrics_http.serve_forever, name="greentts-replica-metrics", daemon=True).start()
        target = f"{host}:{self.metrics_http.server_port}"
        await asyncio.wrap_future(self.directory.register.remote(self.name, target, {
            "replica": self.name, "node": host, "job": "greentts"}).future())

    def __serve_build_asgi_app__(self) -> Any:
        return self.server

    async def _targets(self) -> list[dict[str, Any]]:
        return await asyncio.wrap_future(self.directory.service_discovery.remote().future())

    def check_health(self) -> None:
        if self.server.state.load_error:
            raise RuntimeError(self.server.state.load_error)

    def __del__(self) -> None:
        try:
            self.directory.unregister.remote(self.name)
            self.metrics_http.shutdown()
        except Exception:  # noqa: BLE001 - the process is going away
            pass


class RayServeOptions:
    """How to deploy: a fixed ``replicas`` count or ``autoscale`` (min, max) replicas, ``replica_cpus`` CPUs
    each, on the cluster at ``address`` (None: a new local one)."""

    def __init__(self, replicas: int | None = None, autoscale: tuple[int, int] | None = None,
                 replica_cpus: float = 1.0, address: str | None = None, target_ongoing: float = 2.0) -> None:
        if replicas is not None and autoscale is not None:
            raise InputError("give --replicas or --autoscale, not both")
        if replicas is not None and replicas < 1:
            raise InputError(f"--replicas must be at least 1, not {replicas}")
        if autoscale is not None and not (0 <= autoscale[0] <= autoscale[1] and autoscale[1] >= 1):
            raise InputError(f"--autoscale MIN..MAX needs 0 <= MIN <= MAX and MAX >= 1, not {autoscale}")
        if replica_cpus <= 0:
            raise InputError(f"--replica-cpus must be positive, not {replica_cpus}")
        self.replicas, self.autoscale, self.replica_cpus = replicas, autoscale, replica_cpus
        self.address, self.target_ongoing = address, target_ongoing

    def scaling(self, fits: int) -> dict[str, Any]:
        """Serve's deployment options; without ``replicas`` or ``autoscale``, as many replicas as ``fits``."""
        if self.autoscale is None:
            return {"num_replicas": self.replicas or max(1, fits)}
        lo, hi = self.autoscale
        return {"num_replicas": "auto", "autoscaling_config": {
            "min_replicas": lo, "initial_replicas": max(lo, 1), "max_replicas": hi,
            "target_ongoing_requests": self.target_ongoing * self.replica_cpus}}


def parse_autoscale(spec: str) -> tuple[int, int]:
    """``"MIN..MAX"`` -> (MIN, MAX)."""
    lo, sep, hi = spec.partition("..")
    if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
        raise InputError(f"--autoscale takes MIN..MAX, e.g. 1..4, not {spec!r}")
    return int(lo), int(hi)


def replica_config(cfg: ServerConfig, replica_cpus: float) -> dict[str, Any]:
    """What every replica gets: paths resolved here (replicas may not share this process's environment),
    API keys read here, and as many scheduler workers as the replica has CPUs unless set."""
    engine = cfg.engine.model_copy(update={
        "cache_dir": Path(cfg.engine.cache_dir or default_cache_dir()).expanduser().resolve(),
        "voices_dir": Path(cfg.engine.voices_dir or default_voices_dir()).expanduser().resolve(),
        "workers": cfg.engine.workers or max(1, int(replica_cpus))})
    return cfg.model_copy(update={"engine": engine, "api_keys": cfg.keys(), "api_keys_file": None}).model_dump(
        mode="json")


def deploy(cfg: ServerConfig, opts: RayServeOptions) -> None:
    """Connect to (or start) the cluster, start Serve's proxy on ``cfg.host:cfg.port`` and run the app;
    returns once every replica is up and warm."""
    import ray
    from ray import serve

    _connect(opts.address)
    nodes = [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [1.0]
    if opts.replica_cpus > max(nodes):
        raise InputError(f"--replica-cpus {opts.replica_cpus:g} is more than any node of the cluster has (the "
                         f"largest has {max(nodes):g} CPUs): a replica runs in one process on one node")
    directory(cfg.keep_reports)
    serve.start(http_options={"host": cfg.host, "port": cfg.port}, proxy_location="EveryNode")
    deployment = serve.deployment(serve.ingress()(Replica), name=APP,
                                  ray_actor_options={"num_cpus": opts.replica_cpus},
                                  max_ongoing_requests=cfg.max_requests + 16,  # our admission answers 429 first
                                  health_check_period_s=10, graceful_shutdown_timeout_s=10,
                                  **opts.scaling(sum(int(c // opts.replica_cpus) for c in nodes)))
    try:
        serve.run(deployment.bind(replica_config(cfg, opts.replica_cpus)), name=APP, route_prefix="/")
    except RuntimeError as exc:  # DEPLOY_FAILED: the replicas' errors are in Serve's logs
        raise GreenTTSError(f"the Ray Serve deployment failed ({exc}); each replica's error is in the cluster's "
                            "logs/serve/replica_*.log (a local cluster: /tmp/ray/session_latest)") from None


def _connect(address: str | None) -> None:
    import ray

    try:
        ray.init(address=address, namespace=NAMESPACE, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = ("; a cluster that uses token authentication (Ray's default for `ray start`) needs "
                "RAY_AUTH_MODE=token here too" if address and not os.environ.get("RAY_AUTH_MODE") else "")
        raise InputError(f"cannot connect to the Ray cluster at {address or 'a new local one'}: {exc}{hint}") from None


def shutdown(opts: RayServeOptions) -> None:
    """Remove the app and the directory; a local cluster is stopped."""
    import ray
    from ray import serve

    try:
        serve.delete(APP)
        ray.kill(ray.get_actor(DIRECTORY, namespace=NAMESPACE))
    except Exception:  # noqa: BLE001 - already gone
        pass
    if opts.address is None:
        serve.shutdown()
    ray.shutdown()


def serve_forever(cfg: ServerConfig, opts: RayServeOptions, ready: Any = print) -> None:
    """:func:`deploy`, then wait for SIGINT/SIGTERM and :func:`shutdown`."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        deploy(cfg, opts)
        ready()
        stop.wait()
    finally:
        shutdown(opts)


def directory(keep: int) -> Any:
    """The deployment's :class:`Directory` actor, started by the first caller (detached: it outlives the
    command that deployed; :func:`shutdown` stops it)."""
    import ray

    return ray.remote(num_cpus=0)(Directory).options(name=DIRECTORY, namespace=NAMESPACE, lifetime="detached",
                                                     get_if_exists=True).remote(keep)
