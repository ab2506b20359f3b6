"""onnxruntime thread-pool spinning on the fast lane's multi-thread Kokoro session: wall and CPU time.

The fast lane runs a stream's first segment (and a one-segment request) alone on a session with every
core. With spinning on, its pool threads busy-wait between parallel sections and for a while after each
run; that CPU time is what the CPU-time energy model charges. Three sessions side by side in one process
(the 1-thread session the workers use, the all-cores session with spinning on and off) render the same
segments in alternation; each call's process CPU time includes the 0.3 s after it (the trailing spin).
Medians over ``--reps``, the first repetition dropped as warm-up.

    python bench/spinning.py --reps 7
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from typing import Any

TEXTS = {
    "en short": "Hi there.",
    "en sentence": "The committee will publish its findings on the fourth of June.",
    "en long": ("When the committee finally met on the third floor of the old library, nobody could remember "
                "who had first suggested the idea."),
    "zh sentence": "委员会将在六月四日公布调查结果，听证会在一周前结束。",
}


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _sessions(backend: Any, threads: int) -> dict[str, Any]:
    def make(n: int, spin: bool) -> Any:
        return backend.new_session(n, spinning=spin)

    return {"1 thread": make(1, False), f"{threads} threads, spinning": make(threads, True),
            f"{threads} threads, no spinning": make(threads, False)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    from greentts import Engine

    threads = len(os.sched_getaffinity(0))
    with Engine(workers=1, fast_lane=False) as engine:
        core = getattr(engine, "_core", engine)
        backend = core.backends["kokoro"]
        sessions = _sessions(backend, threads)
        segs = {}
        for name, text in TEXTS.items():
            ids = [i for seg in core.frontend.phonemize(text) for i in seg.ids]
            segs[name] = (ids, core.voices.get("zf_xiaoxiao" if name.startswith("zh") else "af_heart"))
        rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for rep in range(args.reps):
            order = list(sessions.items())
            for label, sess in (order if rep % 2 == 0 else order[::-1]):
                for name, (ids, voice) in segs.items():
                    c0, w0 = _cpu_s(), time.perf_counter()
                    sess.synthesize(ids, voice, 1.0)
                    wall = time.perf_counter() - w0
                    time.sleep(0.3)
                    if rep:
                        rows.setdefault((name, label), []).append((wall, _cpu_s() - c0))
    out = []
    print(f"| segment | ids | session | wall (s) | CPU (s) | CPU / wall | CPU vs 1 thread | wall vs 1 thread |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (ids, _) in segs.items():
        base = rows[(name, "1 thread")]
        bw, bc = statistics.median(r[0] for r in base), statistics.median(r[1] for r in base)
        for label in sessions:
            r = rows[(name, label)]
            w, c = statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)
            out.append({"segment": name, "ids": len(ids), "session": label, "wall_s": w, "cpu_s": c})
            print(f"| {name} | {len(ids)} | {label} | {w:.3f} | {c:.3f} | {c / w:.2f} | {c / bc:.2f}x | {w / bw:.2f}x |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"reps": args.reps, "threads": threads, "rows": out}, fh, indent=1)


if __name__ == "__main__":
    main()
