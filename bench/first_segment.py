"""What one stream's first segment costs, by its length cap, and what a synchronized burst must take.

For each cap (``first_max_ids``) the corpus sentences (English and Mandarin alternating, as in
``bench/serve_load.py``) are planned the way a streaming request is, and each first segment is spoken
by one single-thread Kokoro session (how a server worker runs it). Reported per cap: median call time,
median ids and audio seconds of the first segment. Then the lower bound for a burst of N requests that
arrive at once on C cores: N first segments x median call time / C, i.e. when the last one can finish
with perfect packing and no other work.

    python bench/first_segment.py [--caps 8,12,16,24,32,48] [--sentences 24] [--burst 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from greentts import Engine

HERE = Path(__file__).resolve().parent


def _sentences(n: int) -> list[tuple[str, str, str]]:
    en = [s for s in (HERE / "corpus_en.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    zh = [s for s in (HERE / "corpus_zh.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    out = []
    for a, b in zip(en, zh):
        out += [(a, "en", "af_heart"), (b, "zh", "zf_xiaoxiao")]
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caps", default="8,12,16,24,32,48")
    ap.add_argument("--sentences", type=int, default=24)
    ap.add_argument("--burst", type=int, default=16)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    engine = Engine(idle_probe_s=0.1)
    try:
        backend = engine.backends["kokoro"]
        session = backend.new_session(1)
        sentences = _sentences(args.sentences)
        session.synthesize(list(engine.frontend.phonemize("Warm up.", lang="en")[0].ids), engine.voices.get("af_heart"), 1.0)
        rows = []
        for cap in (int(c) for c in args.caps.split(",")):
            times, ids, audio = [], [], []
            for text, lang, voice in sentences:
                seg = next(iter(engine.frontend.plan(text, lang=lang, first_max_ids=cap)))
                t = time.perf_counter()
                out = session.synthesize(list(seg.ids), engine.voices.get(voice), 1.0)
                times.append(time.perf_counter() - t)
                ids.append(len(seg.ids))
                audio.append(len(out) / backend.sample_rate)
            call = statistics.median(times)
            row = {"cap": cap, "call_s_median": round(call, 3), "ids_median": statistics.median(ids),
                   "audio_s_median": round(statistics.median(audio), 2),
                   "burst_lower_bound_s": round(args.burst * call / cores, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(f"\n{cores} cores, burst of {args.burst}: | cap | ids | audio s | call s (1 thread) | all first "
              "segments done no sooner than |")
        for r in rows:
            print(f"| {r['cap']} | {r['ids_median']} | {r['audio_s_median']} | {r['call_s_median']} | "
                  f"{r['burst_lower_bound_s']} s |")
    finally:
        engine.close()


if __name__ == "__main__":
    main()
