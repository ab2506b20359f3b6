"""This checkout against an earlier commit, side by side: throughput and first-audio latency.

The earlier commit is checked out into a temporary git worktree; each measurement runs in its own
subprocess with ``PYTHONPATH`` pointing at one tree's ``src``, alternating old/new for ``--reps``
rounds (same machine, same models, same corpus), and the medians are compared.

- throughput: audio seconds per wall second over the first ``--sentences`` sentences of
  bench/corpus_en.txt and bench/corpus_zh.txt, one ``Engine.synthesize`` call each;
- first audio: seconds from ``Engine.stream`` of a 5-sentence paragraph to its first chunk (median of 7).

    python bench/before_after.py --baseline 4e651d1 --reps 5 [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _baseline import ROOT, alternate, baseline_tree, report

HERE = Path(__file__).resolve().parent

MEASURE = r"""
import json, statistics, sys, time
from greentts import Engine
n = int(sys.argv[1])
texts = {lang: [l for l in open(path, encoding="utf-8").read().splitlines() if l.strip()][:n]
         for lang, path in (("en", sys.argv[2]), ("zh", sys.argv[3]))}
with Engine() as engine:
    engine.warm_up()
    engine.synthesize("Warm up the sessions, please.")
    audio = wall = 0.0
    for lang, lines in texts.items():
        for text in lines:
            t = time.perf_counter()
            r = engine.synthesize(text)
            wall += time.perf_counter() - t
            audio += r.duration_s
    paragraph = " ".join(texts["en"][:5])
    firsts = []
    for _ in range(7):
        t = time.perf_counter()
        stream = engine.stream(paragraph)
        next(iter(stream))
        firsts.append(time.perf_counter() - t)
        stream.close()
        engine.wait_idle()
print(json.dumps({"throughput": audio / wall, "first_audio_s": statistics.median(firsts)}))
"""


def _run(src: Path, sentences: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", MEASURE, str(sentences), str(HERE / "corpus_en.txt"),
                          str(HERE / "corpus_zh.txt")], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="the earlier commit")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with baseline_tree(args.baseline) as tree:
        rounds = alternate({"baseline": tree / "src", "this": ROOT / "src"}, args.reps,
                           lambda src: _run(src, args.sentences))
    result: dict[str, object] = {}
    for name, runs in rounds.items():
        result[name] = {k: statistics.median(r[k] for r in runs) for k in ("throughput", "first_audio_s")}
    ratios = [t["throughput"] / b["throughput"] for t, b in zip(rounds["this"], rounds["baseline"])]
    firsts = [t["first_audio_s"] / b["first_audio_s"] for t, b in zip(rounds["this"], rounds["baseline"])]
    result["throughput_ratio_median"] = statistics.median(ratios)
    result["first_audio_ratio_median"] = statistics.median(firsts)
    report(result, args.baseline, args.json)


if __name__ == "__main__":
    sys.exit(main())
