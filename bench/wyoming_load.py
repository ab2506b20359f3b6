"""Wyoming vs HTTP on one ``greentts wyoming --http-port`` process (one engine), side by side in one run.

For each concurrency level (default 1, 4, 8) the same requests (corpus sentences, English and Mandarin
alternating) go once through Wyoming (the wyoming library's AsyncTcpClient, one connection per request,
as Home Assistant does) and once through ``POST /v1/audio/speech`` (pcm, streamed), by that many
closed-loop clients (a refused request backs off for the server's retry-after, as on 429); the two
protocols alternate per level, so both see the same machine state.
Reported per protocol and level: throughput (audio seconds per wall second), p50/p95 time to the first
audio chunk, errors; and the ratio Wyoming / HTTP.

    python bench/wyoming_load.py --markdown /tmp/wyoming.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve_load import _free_port, _level, _percentile, _sentences, _wait_ready, write_results  # noqa: E402

LEVELS = (1, 4, 8)
REQUESTS = {1: 12, 4: 24, 8: 32}


async def _wyoming_level(port: int, clients: int, n: int, sentences: list[tuple[str, str]]) -> dict:
    from wyoming.client import AsyncTcpClient
    from wyoming.tts import Synthesize, SynthesizeVoice

    items = [sentences[i % len(sentences)] for i in range(n)]
    ttfa: list[float] = []
    audio_bytes = 0
    errors: dict[str, int] = {}
    t0 = time.perf_counter()

    async def worker() -> None:
        nonlocal audio_bytes
        while items:
            text, voice = items.pop(0)
            t = time.perf_counter()
            first = None
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Synthesize(text, voice=SynthesizeVoice(name=voice)).event())
                while (ev := await client.read_event()) is not None:
                    if ev.type == "audio-chunk":
                        first = first if first is not None else time.perf_counter() - t
                        audio_bytes += len(ev.payload or b"")
                    elif ev.type in ("audio-stop", "error"):
                        if ev.type == "error":  # server_busy: back off as HTTP clients do on 429
                            errors[ev.data.get("code", "?")] = errors.get(ev.data.get("code", "?"), 0) + 1
                            await asyncio.sleep(float(ev.data.get("retry_after_s", 1)))
                        break
            if first is not None:
                ttfa.append(first)

    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - t0
    audio_s = audio_bytes / 2 / 24000
    return {"clients": clients, "requests": n, "ok": len(ttfa), "errors": errors, "wall_s": wall, "audio_s": audio_s,
            "throughput_x_rt": audio_s / wall, "ttfa_p50_s": _percentile(ttfa, 0.5),
            "ttfa_p95_s": _percentile(ttfa, 0.95)}


def _start(extra: list[str]) -> tuple[subprocess.Popen, int, str]:
    wy, http = _free_port(), _free_port()
    exe = Path(sys.executable).with_name("greentts")
    proc = subprocess.Popen([str(exe), "wyoming", "--uri", f"tcp://127.0.0.1:{wy}", "--http-port", str(http), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{http}"
    _wait_ready(proc, url)
    return proc, wy, url


def run(levels: tuple[int, ...], scale: float, extra: list[str]) -> dict:
    proc, wy, url = _start(extra)
    sentences = _sentences()
    try:
        asyncio.run(_wyoming_level(wy, 2, 4, sentences))  # warm both paths
        asyncio.run(_level(url, 2, 4, sentences))
        rows = []
        for c in levels:
            n = max(c, round(REQUESTS.get(c, 4 * c) * scale))
            w = asyncio.run(_wyoming_level(wy, c, n, sentences))
            h = asyncio.run(_level(url, c, n, sentences))
            rows.append({"clients": c, "wyoming": w, "http": h,
                         "throughput_ratio": w["throughput_x_rt"] / h["throughput_x_rt"],
                         "ttfa_p50_ratio": w["ttfa_p50_s"] / h["ttfa_p50_s"]})
            print(f"{c:2d} clients: wyoming {w['throughput_x_rt']:.2f} x RT, first chunk p50 {w['ttfa_p50_s']:.3f} s "
                  f"p95 {w['ttfa_p95_s']:.3f} s, errors {w['errors']} | http {h['throughput_x_rt']:.2f} x RT, "
                  f"p50 {h['ttfa_p50_s']:.3f} s p95 {h['ttfa_p95_s']:.3f} s, errors {h['errors']}", flush=True)
        return {"levels": rows, "server_args": extra}
    finally:
        proc.terminate()
        proc.wait(30)


def markdown(res: dict) -> str:
    lines = [f"Wyoming vs HTTP, one process (`bench/wyoming_load.py`), {platform.machine()} {os.cpu_count()} vCPU, "
             f"{time.strftime('%Y-%m-%d')}", "",
             "| clients | Wyoming x RT | HTTP x RT | ratio | Wyoming first chunk p50 / p95 | HTTP first audio p50 / p95 "
             "| errors W / H |", "|---|---|---|---|---|---|---|"]
    for r in res["levels"]:
        w, h = r["wyoming"], r["http"]
        lines.append(f"| {r['clients']} | {w['throughput_x_rt']:.2f} | {h['throughput_x_rt']:.2f} | "
                     f"{r['throughput_ratio']:.2f}x | {w['ttfa_p50_s']:.3f} / {w['ttfa_p95_s']:.3f} s | "
                     f"{h['ttfa_p50_s']:.3f} / {h['ttfa_p95_s']:.3f} s | {w['errors'] or 0} / {h['errors'] or 0} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "wyoming_load.json")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("server_args", nargs="*", help="more arguments for greentts wyoming (after --)")
    a = ap.parse_args()
    res = run(tuple(int(x) for x in a.levels.split(",") if x), a.scale, a.server_args)
    write_results(res, markdown(res), a.json, a.markdown)


if __name__ == "__main__":
    main()
