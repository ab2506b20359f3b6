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


async def _level(url: str, clients: int, n: int, sentences: list[tuple[str, str]]) -> dict:
    import httpx2 as httpx

    queue: asyncio.Queue = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(sentences[i % len(sentences)])
    ttfa: list[float] = []
    later: list[float] = []  # first audio of each client's 2nd, 3rd ... request (after the first wave)
    audio_bytes = 0
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        async def worker() -> None:
            nonlocal audio_bytes
            done = 0
            while not queue.empty():
                text, voice = queue.get_nowait()
                body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm"}
                t = time.perf_counter()
                first = None
                async with client.stream("POST", "/v1/audio/speech", json=body) as r:
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                        await r.aread()
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

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    audio_s = audio_bytes / 2 / 24000
    return {"clients": clients, "requests": n, "ok": len(ttfa), "errors": errors, "wall_s": wall,
            "audio_s": audio_s, "throughput_x_rt": audio_s / wall, "ttfa_p50_s": _percentile(ttfa, 0.5),
            "ttfa_p95_s": _percentile(ttfa, 0.95),
            "ttfa_p95_after_first_wave_s": _percentile(later, 0.95)}


def _offline() -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "throughput.py"), "--child", "engine"], capture_output=True,
                          text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"throughput_x_rt": r["audio_s"] / r["wall_s"], "audio_s": r["audio_s"], "wall_s": r["wall_s"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(levels: tuple[int, ...], scale: float) -> dict:
    import httpx2 as httpx

    offline = _offline()
    print(f"offline engine: {offline['throughput_x_rt']:.2f} x real time", flush=True)
    port = _free_port()
    exe = Path(sys.executable).with_name("greentts")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port), "--max-requests", "256"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("server did not become ready: " + (server.stderr.read() if server.poll() else ""))
            time.sleep(0.5)
        rss_before = _rss_mb(server.pid)
        sentences = _sentences()
        asyncio.run(_level(url, 2, 4, sentences))  # warm the connection path
        rows = []
        for c in levels:
            row = asyncio.run(_level(url, c, max(c, round(REQUESTS.get(c, 2 * c) * scale)), sentences))
            row["ratio_vs_offline"] = row["throughput_x_rt"] / offline["throughput_x_rt"]
            row["rss_mb_after"] = _rss_mb(server.pid)
            rows.append(row)
            print(f"{c:3d} clients: {row['throughput_x_rt']:.2f} x RT ({row['ratio_vs_offline']:.2f}x offline), "
                  f"first audio p50 {row['ttfa_p50_s']:.3f} s p95 {row['ttfa_p95_s']:.3f} s, errors {row['errors']}",
                  flush=True)
        return {"offline": offline, "levels": rows, "rss_mb_before": rss_before, "rss_mb_after": _rss_mb(server.pid)}
    finally:
        server.terminate()
        server.wait(30)


def markdown(res: dict) -> str:
    lines = [f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; server and clients on one "
             f"machine (loopback). Offline engine (bench/throughput.py --child engine, same run): "
             f"**{res['offline']['throughput_x_rt']:.2f} x real time**. Server RSS {res['rss_mb_before']:.0f} MB "
             f"before load, {res['rss_mb_after']:.0f} MB after.", "",
             "| clients | requests | ok | errors | audio s / wall s | vs offline | first audio p50 | first audio p95 | "
             "p95 after the first wave | RSS after (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["levels"]:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['ok']} | {r['errors'] or 0} | {r['throughput_x_rt']:.2f} | "
                     f"**{r['ratio_vs_offline']:.2f}x** | {r['ttfa_p50_s']:.3f} s | {r['ttfa_p95_s']:.3f} s | "
                     f"{r['ttfa_p95_after_first_wave_s']:.3f} s | {r['rss_mb_after']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "serve_load.json")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    res = run(tuple(int(x) for x in args.levels.split(",")), args.scale)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1))
    table = markdown(res)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
