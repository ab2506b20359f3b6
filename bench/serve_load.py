"""Load on ``greentts serve`` over loopback vs the offline engine, measured side by side in one run.

For each concurrency level (default 1, 4, 16, 64) a bounded number of requests (one corpus sentence each,
English and Mandarin alternating, ``response_format=pcm``, streamed) is sent by that many closed-loop
clients (each sends its next request when the previous one has ended). Reported per level: throughput
(audio seconds per wall second), p50/p95 time to first audio byte, errors (HTTP status other than 200,
429s counted on their own), server RSS before and after. The offline figure is ``bench/throughput.py``'s
engine measurement (``--child engine``: the same corpus through ``Engine.synthesize``), run in the same
invocation, before the server starts, so the ratio compares like with like on the same machine state.

    python bench/serve_load.py --markdown docs/serve-load.md

Targets (issue 5): at 16 clients, throughput >= 0.9x offline; p95 first audio <= 1.5 s (Kokoro).
Targets (issue 15), with ``--soak 600 --check``: at 64 clients the p95 first audio of admitted requests is at
most the server's ``--max-first-audio-wait`` (5 s), no 5xx, and server RSS grows < 5 % after warm-up.

    python bench/serve_load.py --levels 64 --soak 600 --check --markdown docs/serve-load.md

With ``--ray N`` (issue 19) the same levels then run against ``greentts serve --ray --replicas N`` (a local Ray
cluster on this machine, ``--replica-cpus`` CPUs per replica), and the table gains the Ray rows side by side
with the single-process server's, with their ratio; RSS is then the sum over the replica processes.

    python bench/serve_load.py --levels 1,4,16 --ray 2 --markdown /tmp/serve-ray.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEVELS = (1, 4, 16, 64)
REQUESTS = {1: 16, 4: 48, 16: 160, 64: 320}  # 5-10 per client: the synchronized first wave is not most of them


def _sentences() -> list[tuple[str, str]]:
    en = [s for s in (HERE / "corpus_en.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    zh = [s for s in (HERE / "corpus_zh.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    out = []
    for a, b in zip(en, zh):
        out += [(a, "af_heart"), (b, "zf_xiaoxiao")]
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def _level(url: str, clients: int, n: int, sentences: list[tuple[str, str]], duration_s: float = 0.0,
                 rss_pid: int | None = None) -> dict:
    """``n`` requests by ``clients`` closed-loop clients, or (``duration_s``) as many as they send in that
    time. A 429 is counted, and its client waits Retry-After before it sends its next request."""
    import httpx2 as httpx

    queue: asyncio.Queue = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(sentences[i % len(sentences)])
    ttfa: list[float] = []
    later: list[float] = []  # first audio of each client's 2nd, 3rd ... request (after the first wave)
    audio_bytes = 0
    errors: dict[str, int] = {}
    sent = 0
    retry_after: list[float] = []
    rss: list[tuple[float, float]] = []
    t0 = time.perf_counter()
    stop_at = t0 + duration_s if duration_s else None
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)

    def next_item(i: int) -> tuple[str, str] | None:
        if stop_at is not None:
            return sentences[i % len(sentences)] if time.perf_counter() < stop_at else None
        return None if queue.empty() else queue.get_nowait()

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        async def worker(k: int) -> None:
            nonlocal audio_bytes, sent
            done = 0
            while (item := next_item(sent + k)) is not None:
                text, voice = item
                sent += 1
                body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm"}
                t = time.perf_counter()
                first = None
                async with client.stream("POST", "/v1/audio/speech", json=body) as r:
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                        await r.aread()
                        if r.status_code == 429:
                            wait = float(r.headers.get("Retry-After", "1"))
                            retry_after.append(wait)
                            await asyncio.sleep(wait)
                        continue
                    async for part in r.aiter_raw():
                        if first is None and part:
                            first = time.perf_counter() - t
                        audio_bytes += len(part)
                if first is not None:
                    ttfa.append(first)
                    if done:
                        later.append(first)
                done += 1

        async def sample_rss() -> None:
            while rss_pid is not None:
                rss.append((time.perf_counter() - t0, _rss_mb(rss_pid)))
                await asyncio.sleep(10)

        sampler = asyncio.ensure_future(sample_rss())
        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.perf_counter() - t0
        sampler.cancel()
    audio_s = audio_bytes / 2 / 24000
    answered = len(ttfa) + sum(errors.values())
    row = {"clients": clients, "requests": sent, "ok": len(ttfa), "errors": errors, "wall_s": wall,
           "audio_s": audio_s, "throughput_x_rt": audio_s / wall, "ttfa_p50_s": _percentile(ttfa, 0.5),
           "ttfa_p95_s": _percentile(ttfa, 0.95), "ttfa_max_s": max(ttfa, default=float("nan")),
           "ttfa_p95_after_first_wave_s": _percentile(later, 0.95),
           "share_429": errors.get("429", 0) / answered if answered else 0.0,
           "errors_5xx": sum(v for k, v in errors.items() if k.startswith("5")),
           "retry_after_median_s": statistics.median(retry_after) if retry_after else None}
    if rss:
        row["rss_mb"] = rss
    return row


def _offline() -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "throughput.py"), "--child", "engine"], capture_output=True,
                          text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"throughput_x_rt": r["audio_s"] / r["wall_s"], "audio_s": r["audio_s"], "wall_s": r["wall_s"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _replica_pids() -> list[int]:
    """The Ray Serve replica processes on this machine (their command line names them)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ray::ServeReplica" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _server_rss(server: subprocess.Popen, on_ray: bool) -> float:
    """The server's RSS in MB: its own process, or with Ray the sum over the replica processes."""
    if not on_ray:
        return _rss_mb(server.pid)
    total = 0.0
    for pid in _replica_pids():
        try:
            total += _rss_mb(pid)
        except OSError:
            pass
    return total


def _start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    exe = Path(sys.executable).with_name("greentts")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port), *extra], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(server, url, 600 if "--ray" in extra else 300)
    return server, url


def _stop_server(server: subprocess.Popen) -> None:
    server.terminate()  # SIGTERM: `serve --ray` removes the app and stops its local cluster first
    try:
        server.wait(120)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(30)


def write_results(res: dict, table: str, json_path: Path, md_path: Path | None) -> None:
    """The raw results as JSON, the table printed and (``md_path``) written."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1))
    print(table)
    if md_path:
        md_path.write_text(table)


def _wait_ready(server: subprocess.Popen, url: str, timeout_s: float = 300) -> None:
    """Until ``url``'s /readyz answers 200; kills ``server`` and raises if it exits or takes too long."""
    import httpx2 as httpx

    deadline = time.time() + timeout_s
    while True:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError("server did not become ready: " + (server.stderr.read() if server.poll() else ""))
        time.sleep(0.5)


def run(levels: tuple[int, ...], scale: float, server_args: list[str], offline: bool = True,
        off: dict | None = None) -> dict:
    """Every level against one server started with ``server_args``; ``off``: the offline figure, if measured."""
    off = _offline() if offline else off
    if off and offline:
        print(f"offline engine: {off['throughput_x_rt']:.2f} x real time", flush=True)
    on_ray = "--ray" in server_args
    server, url = _start_server(server_args)
    try:
        rss_before = _server_rss(server, on_ray)
        sentences = _sentences()
        asyncio.run(_level(url, 2, 4, sentences))  # warm the connection path
        rows = []
        for c in levels:
            row = asyncio.run(_level(url, c, max(c, round(REQUESTS.get(c, 2 * c) * scale)), sentences))
            row["ratio_vs_offline"] = row["throughput_x_rt"] / off["throughput_x_rt"] if off else None
            row["rss_mb_after"] = _server_rss(server, on_ray)
            rows.append(row)
            print(f"{'ray ' if on_ray else ''}{c:3d} clients: {row['throughput_x_rt']:.2f} x RT, first audio p50 "
                  f"{row['ttfa_p50_s']:.3f} s p95 {row['ttfa_p95_s']:.3f} s, 429 {row['share_429']:.0%}, errors "
                  f"{row['errors']}", flush=True)
        return {"offline": off, "levels": rows, "rss_mb_before": rss_before,
                "rss_mb_after": _server_rss(server, on_ray), "server_args": server_args}
    finally:
        _stop_server(server)


def soak(clients: int, duration_s: float, warm_s: float, server_args: list[str]) -> dict:
    """``clients`` closed-loop clients for ``duration_s``; server RSS sampled every 10 s. Growth is measured
    from the first sample after ``warm_s`` (arenas sized by the first minutes of traffic) to the end."""
    server, url = _start_server(server_args)
    try:
        rss_idle = _rss_mb(server.pid)
        asyncio.run(_level(url, 2, 4, _sentences()))
        row = asyncio.run(_level(url, clients, 0, _sentences(), duration_s=duration_s, rss_pid=server.pid))
        samples = row["rss_mb"]
        warm = next((mb for t, mb in samples if t >= warm_s), samples[-1][1])
        end = _rss_mb(server.pid)
        row.update({"rss_mb_idle": rss_idle, "rss_mb_after_warm_up": warm, "rss_mb_end": end,
                    "rss_growth_after_warm_up": end / warm - 1, "warm_up_s": warm_s, "server_args": server_args})
        print(f"soak {clients} clients {duration_s:.0f} s: {row['ok']} ok, 429 {row['share_429']:.0%}, 5xx "
              f"{row['errors_5xx']}, first audio p50 {row['ttfa_p50_s']:.2f} s p95 {row['ttfa_p95_s']:.2f} s; RSS "
              f"{rss_idle:.0f} MB idle, {warm:.0f} MB at {warm_s:.0f} s, {end:.0f} MB at the end "
              f"({row['rss_growth_after_warm_up']:+.1%})", flush=True)
        return row
    finally:
        _stop_server(server)


def markdown(res: dict) -> str:
    off = res.get("offline")
    lines = [f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; server and clients on one "
             f"machine (loopback); server flags: `{' '.join(res.get('server_args', [])) or 'defaults'}`."
             + (f" Offline engine (bench/throughput.py --child engine, same run): "
                f"**{off['throughput_x_rt']:.2f} x real time**." if off else "")
             + f" Server RSS {res['rss_mb_before']:.0f} MB before load, {res['rss_mb_after']:.0f} MB after.", "",
             "| clients | requests | ok | 429 share | errors | audio s / wall s | vs offline | first audio p50 | "
             "first audio p95 | p95 after the first wave | RSS after (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["levels"]:
        ratio = f"**{r['ratio_vs_offline']:.2f}x**" if r.get("ratio_vs_offline") else "-"
        lines.append(f"| {r['clients']} | {r['requests']} | {r['ok']} | {r['share_429']:.0%} | {r['errors'] or 0} | "
                     f"{r['throughput_x_rt']:.2f} | {ratio} | {r['ttfa_p50_s']:.3f} s | {r['ttfa_p95_s']:.3f} s | "
                     f"{r['ttfa_p95_after_first_wave_s']:.3f} s | {r['rss_mb_after']:.0f} |")
    if res.get("soak"):
        k = res["soak"]
        lines += ["", f"Soak: {k['clients']} closed-loop clients for {k['wall_s']:.0f} s (a 429 waits Retry-After): "
                      f"{k['requests']} requests, {k['ok']} admitted and complete, {k['share_429']:.1%} answered 429 "
                      f"(median Retry-After {k['retry_after_median_s']} s), {k['errors_5xx']} 5xx; first audio of "
                      f"admitted requests p50 {k['ttfa_p50_s']:.2f} s, p95 {k['ttfa_p95_s']:.2f} s, max "
                      f"{k['ttfa_max_s']:.2f} s; server RSS {k['rss_mb_idle']:.0f} MB idle, "
                      f"{k['rss_mb_after_warm_up']:.0f} MB after {k['warm_up_s']:.0f} s of load, "
                      f"{k['rss_mb_end']:.0f} MB at the end: **{k['rss_growth_after_warm_up']:+.1%}** after warm-up."]
    if res.get("ray"):
        lines += ["", ray_markdown(res)]
    return "\n".join(lines) + "\n"


def ray_markdown(res: dict) -> str:
    """The single-process server and Ray Serve at each level, side by side, with Ray / single."""
    ray = res["ray"]
    single = {r["clients"]: r for r in res["levels"]}
    lines = [f"Ray Serve, same run: `greentts serve {' '.join(ray['server_args'])}` (a local Ray cluster on this "
             f"machine); RSS summed over the replica processes: {ray['rss_mb_before']:.0f} MB before load, "
             f"{ray['rss_mb_after']:.0f} MB after.", "",
             "| clients | server | ok | errors | audio s / wall s | Ray / single | first audio p50 | first audio p95 "
             "| p95 after the first wave | RSS after (MB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in ray["levels"]:
        one = single.get(r["clients"])
        for name, row in (("single process", one), ("Ray Serve", r)):
            if row is None:
                continue
            ratio = f"**{r['throughput_x_rt'] / one['throughput_x_rt']:.2f}x**" if one and row is r else "-"
            lines.append(f"| {r['clients']} | {name} | {row['ok']} | {row['errors'] or 0} | "
                         f"{row['throughput_x_rt']:.2f} | {ratio} | {row['ttfa_p50_s']:.3f} s | "
                         f"{row['ttfa_p95_s']:.3f} s | {row['ttfa_p95_after_first_wave_s']:.3f} s | "
                         f"{row['rss_mb_after']:.0f} |")
    return "\n".join(lines)


def check(res: dict, max_wait: float) -> list[str]:
    """The issue-15 targets: admitted p95 first audio <= max wait, zero 5xx, RSS growth < 5 % after warm-up."""
    bad = []
    k = res.get("soak")
    rows = res["levels"] + (res["ray"]["levels"] if res.get("ray") else []) + ([k] if k else [])
    for r in rows:
        if r["errors_5xx"]:
            bad.append(f"{r['clients']} clients: {r['errors_5xx']} 5xx")
    for r in [x for x in rows if x["clients"] >= 64]:
        if r["ttfa_p95_s"] > max_wait:
            bad.append(f"{r['clients']} clients: admitted p95 first audio {r['ttfa_p95_s']:.2f} s > {max_wait} s")
    if k and k["rss_growth_after_warm_up"] >= 0.05:
        bad.append(f"RSS grew {k['rss_growth_after_warm_up']:.1%} after warm-up (limit 5 %)")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels ('' for none)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    ap.add_argument("--soak", type=float, default=0.0, help="then SECONDS of --soak-clients clients (RSS sampled)")
    ap.add_argument("--soak-clients", type=int, default=64)
    ap.add_argument("--warm-up", type=float, default=120.0, help="soak seconds before the RSS baseline")
    ap.add_argument("--max-wait", type=float, default=5.0, help="the server's --max-first-audio-wait")
    ap.add_argument("--no-offline", action="store_true", help="skip the offline engine measurement")
    ap.add_argument("--ray", type=int, default=0, metavar="N",
                    help="then the same levels on `serve --ray --replicas N` (a local Ray cluster)")
    ap.add_argument("--replica-cpus", type=float, default=1.0, help="CPUs per Ray Serve replica")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the issue-15 targets are met")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "serve_load.json")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    server_args = ["--max-first-audio-wait", str(args.max_wait)]
    levels = tuple(int(x) for x in args.levels.split(",") if x.strip())
    res = run(levels, args.scale, server_args, offline=not args.no_offline) if levels else \
        {"offline": None, "levels": [], "rss_mb_before": float("nan"), "rss_mb_after": float("nan"),
         "server_args": server_args}
    if args.ray and levels:
        ray_args = [*server_args, "--ray", "--replicas", str(args.ray), "--replica-cpus", str(args.replica_cpus)]
        res["ray"] = run(levels, args.scale, ray_args, offline=False, off=res["offline"])
    if args.soak:
        res["soak"] = soak(args.soak_clients, args.soak, args.warm_up, server_args)
    write_results(res, markdown(res), args.json, args.markdown)
    problems = check(res, args.max_wait)
    for p in problems:
        print("TARGET MISSED:", p)
    if args.check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
