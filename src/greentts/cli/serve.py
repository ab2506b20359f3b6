"""Commands that serve or report: serve (the HTTP server), wyoming (Home Assistant), energy report (the ledger)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import GreenTTSError, InputError
from .app import app, energy_app
from .options import LEDGER_ENV, EnergyOptions, fail, with_energy

__all__ = ["serve", "wyoming", "energy_report"]


@app.command()
@with_energy
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="bind address (default 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, "--port", help="TCP port (default 8000)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="synthesis workers (default: one per core; "
                                                                   "with --ray, one per replica CPU)"),
    config: Optional[Path] = typer.Option(None, "--config", help="server settings, JSON or TOML (ServerConfig)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu (default: Kokoro int8 on onnxruntime) or "
                                         "cuda[:N] (Kokoro on PyTorch on an NVIDIA GPU, batched dynamically)"),
    api_key: list[str] = typer.Option([], "--api-key", help="require this Bearer key (repeatable; see also "
                                                            "$GREENTTS_API_KEYS, $GREENTTS_API_KEYS_FILE)"),
    cors: list[str] = typer.Option([], "--cors-origin", help="allow this browser origin (repeatable)"),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", help="requests admitted at once; then 429 "
                                                                             "(with --ray: per replica)"),
    max_wait: Optional[float] = typer.Option(None, "--max-first-audio-wait", help="seconds; a request whose first "
                                             "audio would wait longer gets 429 + Retry-After (default 5)"),
    ray: bool = typer.Option(False, "--ray", help="serve on Ray Serve: replicas with one engine each"),
    replicas: Optional[int] = typer.Option(None, "--replicas", help="with --ray: this many replicas (default: "
                                                                     "as many as the cluster's CPUs hold)"),
    autoscale: Optional[str] = typer.Option(None, "--autoscale", metavar="MIN..MAX",
                                            help="with --ray: Serve adds and removes replicas with the load"),
    replica_cpus: float = typer.Option(1.0, "--replica-cpus", help="with --ray: CPUs per replica"),
    address: Optional[str] = typer.Option(None, "--address", help="with --ray: the Ray cluster (default: start "
                                                                   "a local one; 'auto' finds a running one)"),
    energy: EnergyOptions = EnergyOptions(),
) -> None:
    """Run the OpenAI-compatible HTTP server: /v1/audio/speech, /v1/voices, /metrics, a web UI at /."""
    try:
        from ..server.config import load_config

        engine = energy.config()
        if workers:
            engine["workers"] = workers
        if device:
            engine["device"] = device
        cfg = load_config(config, host=host, port=port, max_requests=max_requests, engine=engine,
                          max_first_audio_wait_s=max_wait,
                          api_keys=tuple(api_key) or None, cors_origins=tuple(cors) or None)
        if ray or replicas is not None or autoscale is not None or address is not None:
            _serve_on_ray(cfg, ray, replicas, autoscale, replica_cpus, address)
            return
        import uvicorn

        from ..server import create_app

        app_ = create_app(cfg)
    except ImportError:
        fail(GreenTTSError("the server needs the 'server' extra: pip install 'greentts[server]'"))
    except GreenTTSError as exc:
        fail(exc)
    typer.echo(f"greentts serving on http://{cfg.host}:{cfg.port}  (auth {'on' if cfg.keys() else 'off'}; "
               "ready when /readyz says so)")
    uvicorn.run(app_, host=cfg.host, port=cfg.port, log_level="warning", timeout_graceful_shutdown=5)


def _serve_on_ray(cfg: Any, on_ray: bool, replicas: Optional[int], autoscale: Optional[str], replica_cpus: float,
                  address: Optional[str]) -> None:
    """``serve --ray``: deploy on Ray Serve, wait for SIGINT/SIGTERM, remove the deployment."""
    if not on_ray:
        raise InputError("--replicas, --autoscale and --address go with --ray")
    try:
        from ..server.ray_serve import RayServeOptions, parse_autoscale, serve_forever
        from ray import serve as _  # noqa: F401 - the extra's check
    except ImportError as exc:
        raise GreenTTSError(f"serving on Ray needs the 'ray-serve' extra: pip install 'greentts[ray-serve]' "
                            f"({exc})") from None
    opts = RayServeOptions(replicas, parse_autoscale(autoscale) if autoscale else None, replica_cpus, address)
    serve_forever(cfg, opts, ready=lambda: typer.echo(
        f"greentts serving on Ray Serve at http://{cfg.host}:{cfg.port}  (auth {'on' if cfg.keys() else 'off'}; "
        "replicas are warm; every replica's metrics: /metrics/targets)", err=False))


@energy_app.command("report")
def energy_report(
    ledger: Optional[Path] = typer.Option(None, "--ledger", help=f"the SQLite ledger (default ${LEDGER_ENV})"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Summarize a ledger per voice, backend and tier: J per audio second, kWh and gCO2e per 1000 sentences."""
    from ..energy.ledger import summarize

    path = ledger or (Path(os.environ[LEDGER_ENV]) if os.environ.get(LEDGER_ENV) else None)
    if path is None:
        raise typer.BadParameter(f"give --ledger PATH or set ${LEDGER_ENV}")
    try:
        summary = summarize(path)
    except GreenTTSError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    typer.echo(f"{'voice':14s} {'backend':8s} {'tier':8s} {'requests':>8s} {'sentences':>9s} {'audio s':>9s} "
               f"{'J/audio s':>9s} {'kWh/1000 sent.':>14s} {'gCO2e/1000 sent.':>16s}  method")
    for g in summary["groups"]:
        typer.echo(f"{g['voice']:14s} {g['backend']:8s} {g['tier']:8s} {g['requests']:8d} {g['sentences']:9d} "
                   f"{g['audio_s']:9.1f} {g['j_per_audio_s']:9.3g} {g['kwh_per_1000_sentences']:14.3g} "
                   f"{g['gco2e_per_1000_sentences']:16.3g}  {g['method']}")
    ses = summary["sessions"]
    other = ses["attributed_j"] - ses["startup_j"] - summary["requests_j"]
    typer.echo(f"engine sessions: {ses['count']}, {ses['wall_s']:.1f} s; meter total {ses['total_j']:.4g} J = "
               f"requests {summary['requests_j']:.4g} J + start-up {ses['startup_j']:.4g} J + idle "
               f"{ses['idle_j']:.4g} J + unrecorded {other:.2g} J (idle is kept out of requests)")
    if summary["parts_j"]:
        typer.echo("requests by kind of work: " + ", ".join(f"{k} {v:.4g} J" for k, v in summary["parts_j"].items()))
    if summary["avoided_j"]:
        hits = sum(g["cache_hits"] for g in summary["groups"])
        typer.echo(f"audio cache: {summary['avoided_j']:.4g} J avoided (what the reused segments cost when first "
                   f"rendered, not spent again); {hits} requests served wholly from the cache")


@app.command()
@with_energy
def wyoming(
    uri: str = typer.Option("tcp://0.0.0.0:10200", "--uri", help="where to listen: tcp://HOST:PORT or unix://PATH "
                                                                 "(Home Assistant's default port is 10200)"),
    http_port: Optional[int] = typer.Option(None, "--http-port", help="also serve the HTTP API (/metrics, "
                                            "/v1/requests/{id}, OpenAI speech) on this port, same engine"),
    host: Optional[str] = typer.Option(None, "--host", help="bind address of --http-port (default 127.0.0.1)"),
    tier: str = typer.Option("standard", "--tier", help="standard (Kokoro), eco (hibari) or auto"),
    rate: Optional[int] = typer.Option(None, "--rate", help="output sample rate in Hz, 8000-48000 (default: "
                                                            "the tier's own, 24000)"),
    speed: float = typer.Option(1.0, "--speed", help="speaking rate, 0.5-2.0"),
    samples_per_chunk: int = typer.Option(1024, "--samples-per-chunk", help="audio samples per audio-chunk event"),
    zeroconf: Optional[str] = typer.Option(None, "--zeroconf", help="announce over mDNS for Home Assistant's "
                                           "discovery under this name ('' = the MAC address)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="synthesis workers (default: one per core)"),
    config: Optional[Path] = typer.Option(None, "--config", help="server settings, JSON or TOML (ServerConfig)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu (default) or cuda[:N] (Kokoro on PyTorch "
                                         "on an NVIDIA GPU, batched dynamically)"),
    energy: EnergyOptions = EnergyOptions(),
) -> None:
    """Serve the Wyoming protocol (Home Assistant): describe, synthesize, streamed synthesis."""
    import asyncio
    import logging

    try:
        from ..protocols.wyoming import WyomingOptions, run
        from ..server.config import load_config
    except ImportError as exc:
        fail(GreenTTSError(f"the Wyoming server needs the 'wyoming' extra: pip install 'greentts[wyoming]' "
                           f"({exc.name} is missing)"))
    if tier not in ("standard", "eco", "auto"):
        raise typer.BadParameter(f"--tier {tier!r}: use standard, eco or auto")
    if rate is not None and not 8000 <= rate <= 48000:
        raise typer.BadParameter(f"--rate {rate}: use 8000-48000 Hz")
    if not 0.5 <= speed <= 2.0:
        raise typer.BadParameter(f"--speed {speed}: use 0.5-2.0")
    if samples_per_chunk < 64:
        raise typer.BadParameter(f"--samples-per-chunk {samples_per_chunk}: use 64 or more")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        engine = energy.config()
        if workers:
            engine["workers"] = workers
        if device:
            engine["device"] = device
        cfg = load_config(config, host=host, port=http_port, engine=engine)
        options = WyomingOptions(tier=tier, sample_rate=rate, speed=speed, samples_per_chunk=samples_per_chunk)
        typer.echo(f"greentts wyoming on {uri}" + (f", HTTP on http://{cfg.host}:{cfg.port}" if http_port else "")
                   + " (loading the models; requests wait for them)")
        asyncio.run(run(cfg, uri, options, http=http_port is not None, zeroconf=zeroconf))
    except GreenTTSError as exc:
        fail(exc)
    except (ValueError, OSError) as exc:  # a bad --uri; a port in use
        fail(GreenTTSError(f"cannot serve on {uri}: {exc}"))
    except KeyboardInterrupt:
        pass


SPEECHD_CONF = """# greentts output module for Speech Dispatcher (read by sd_greentts; all lines optional)
# GreenttsTier standard      # standard (Kokoro), eco (hibari: English, lowest energy) or auto
# GreenttsHttpPort 8099      # serve /metrics and /v1/requests/{id} of this module on 127.0.0.1
# GreenttsCacheDir /path     # weights (default ~/.cache/greentts)
# GreenttsVoicesDir /path    # enrolled voices
# GreenttsWorkers 2
"""


@app.command("speechd-install")
def speechd_install(
    modules_dir: Path = typer.Option(Path("~/.local/libexec/speech-dispatcher-modules"), "--modules-dir",
                                     help="where Speech Dispatcher looks for user modules"),
    config_dir: Path = typer.Option(Path("~/.config/speech-dispatcher/modules"), "--config-dir",
                                    help="where it looks for their configs"),
) -> None:
    """Install the Speech Dispatcher output module for this user (then: spd-say -o greentts "Hello")."""
    import shutil
    import sys

    exe = shutil.which("sd_greentts") or str(Path(sys.executable).with_name("sd_greentts"))
    if not Path(exe).exists():
        fail(GreenTTSError("sd_greentts is not installed next to this Python (pip install greentts)"))
    modules, configs = modules_dir.expanduser(), config_dir.expanduser()
    modules.mkdir(parents=True, exist_ok=True)
    configs.mkdir(parents=True, exist_ok=True)
    target = modules / "sd_greentts"
    target.write_text(f"#!/bin/sh\nexec '{exe}' \"$@\"\n")
    target.chmod(0o755)
    conf = configs / "greentts.conf"
    if not conf.exists():
        conf.write_text(SPEECHD_CONF)
    typer.echo(f"installed {target} and {conf}; restart Speech Dispatcher (killall speech-dispatcher), then "
               "spd-say -o greentts \"Hello\", or pick greentts in Orca's voice settings")
