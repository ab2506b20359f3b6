"""What the fast lane gives a whole-text request: ``synthesize()`` of one sentence, with and without it.

Two warm, idle engines in one process, identical but for ``EngineConfig(fast_lane=...)``, take the
same requests in alternation (English and Mandarin corpus sentences, then 3-sentence paragraphs,
where the fast lane must not engage). Reported per kind of request: median wall time per request on
each engine, the median of the per-request ratios, the estimated energy per request, and whether the
audio is bit-identical (it must be: the fast lane only changes the thread count).

    python bench/whole_request.py [--sentences 16] [--paragraphs 4] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from greentts import Engine

HERE = Path(__file__).resolve().parent


def _corpus() -> tuple[list[str], list[str]]:
    def lines(name: str) -> list[str]:
        return [s for s in (HERE / name).read_text(encoding="utf-8").splitlines() if s.strip()]

    return lines("corpus_en.txt"), lines("corpus_zh.txt")


def _requests(sentences: int, paragraphs: int) -> list[tuple[str, str, str]]:
    en, zh = _corpus()
    out = []
    for i in range(sentences):
        out.append(("sentence", en[i], "af_heart") if i % 2 == 0 else ("sentence", zh[i], "zf_xiaoxiao"))
    for i in range(paragraphs):
        out.append(("paragraph", " ".join(en[20 + 3 * i: 23 + 3 * i]), "af_heart"))
    return out


def _timed(engine: Engine, text: str, voice: str) -> tuple[float, float, np.ndarray, int]:
    t = time.perf_counter()
    r = engine.synthesize(text, voice=voice)
    wall = time.perf_counter() - t
    return wall, r.energy.joules if r.energy else float("nan"), r.audio, len(r.segments)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=16)
    ap.add_argument("--paragraphs", type=int, default=4)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    engines = {lane: Engine(fast_lane=lane, idle_probe_s=0.2) for lane in (True, False)}
    try:
        for e in engines.values():
            e.warm_up()
        rows: dict[str, dict[str, list]] = {}
        for n, (kind, text, voice) in enumerate(_requests(args.sentences, args.paragraphs)):
            order = (True, False) if n % 2 == 0 else (False, True)  # alternate who goes first
            got = {lane: _timed(engines[lane], text, voice) for lane in order}
            row = rows.setdefault(kind, {"on": [], "off": [], "ratio": [], "j_on": [], "j_off": [], "same": [],
                                         "segments": []})
            row["on"].append(got[True][0])
            row["off"].append(got[False][0])
            row["ratio"].append(got[False][0] / got[True][0])
            row["j_on"].append(got[True][1])
            row["j_off"].append(got[False][1])
            row["same"].append(bool(np.array_equal(got[True][2], got[False][2])))
            row["segments"].append(got[True][3])
            print(f"{kind} {n}: fast lane {got[True][0]:.3f} s, without {got[False][0]:.3f} s, "
                  f"segments {got[True][3]}, identical {row['same'][-1]}", flush=True)
    finally:
        for e in engines.values():
            e.close()
    lines = [f"Machine: {os.cpu_count()} CPUs; warm, idle engines; medians over requests (energy estimated, "
             "CPU-time model).", "",
             "| request | n | segments | wall, fast lane | wall, without | speed-up (median of ratios) "
             "| J per request, fast lane / without | audio identical |", "|---|---|---|---|---|---|---|---|"]
    med = statistics.median
    for kind, r in rows.items():
        lines.append(f"| {kind} | {len(r['on'])} | {med(r['segments']):g} | {med(r['on']):.3f} s | {med(r['off']):.3f} s "
                     f"| **{med(r['ratio']):.2f}x** | {med(r['j_on']):.2f} / {med(r['j_off']):.2f} "
                     f"| {sum(r['same'])}/{len(r['same'])} |")
    text = "\n".join(lines)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
