"""onnxruntime arena shrinkage after each Kokoro run, on or off: time, peak RSS and resident RSS afterwards.

Each measurement is a fresh process (peak RSS is per process) running the default engine, warmed up, on
the same work: the English and the Mandarin corpus as paragraphs (``Engine.synthesize``), then the same
paragraphs as streams, then one long sentence (a long segment's activations are what an arena keeps).
"off" swaps greentts' run options for onnxruntime's defaults (the arena keeps its high-water mark).
Rounds alternate the order; medians are reported.

    python bench/arena_shrink.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LONG = ("When the committee finally met on the third floor of the old library, after months of letters, "
        "phone calls and arguments about the budget, the schedule, the venue and the catering, nobody could "
        "remember who had first suggested the idea, and nobody wanted to be the one to say it had failed.")


def _rss_mb() -> tuple[float, float]:
    """(resident, peak) MB of this process."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def _child(mode: str, sentences: int) -> dict[str, float]:
    if mode == "off":
        import onnxruntime as ort

        import greentts.models.kokoro as kokoro

        kokoro.ort_run_options = ort.RunOptions  # type: ignore[assignment] # the defaults: no shrinkage
    from greentts import Engine

    paragraphs = []
    for name in ("corpus_en.txt", "corpus_zh.txt"):
        lines = [s.strip() for s in (HERE / name).read_text(encoding="utf-8").splitlines() if s.strip()]
        sep = " " if name.endswith("en.txt") else ""
        paragraphs += [sep.join(lines[i:i + 4]) for i in range(0, min(sentences, len(lines)), 4)]
    with Engine() as engine:
        engine.warm_up()
        t0 = time.perf_counter()
        for p in paragraphs:
            engine.synthesize(p)
        for p in paragraphs:
            list(engine.stream(p))
        engine.synthesize(LONG)
        seconds = time.perf_counter() - t0
        rss, peak = _rss_mb()
    return {"seconds": seconds, "peak_mb": peak, "rss_after_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=12, help="sentences per corpus")
    ap.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.sentences)))
        return
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for r in range(args.rounds):
        for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--sentences", str(args.sentences)],
                                 capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(mode, runs[mode][-1], flush=True)
    med = {m: {k: statistics.median(x[k] for x in v) for k in v[0]} for m, v in runs.items()}
    print("\n| arena after each run | time, s | peak RSS, MB | RSS afterwards, MB |\n|---|---|---|---|")
    for mode, label in (("off", "kept (onnxruntime default)"), ("on", "shrunk (greentts)")):
        m = med[mode]
        print(f"| {label} | {m['seconds']:.1f} | {m['peak_mb']:.0f} | {m['rss_after_mb']:.0f} |")
    print(f"\ntime ratio shrunk/kept: {med['on']['seconds'] / med['off']['seconds']:.3f} (median of {args.rounds})")


if __name__ == "__main__":
    main()
