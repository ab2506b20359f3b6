"""Start-up cost, this checkout against an earlier commit, side by side: opening Kokoro sessions and a
cold engine's warm-up.

The earlier commit is checked out into a temporary git worktree. Each measurement runs in a fresh
subprocess with ``PYTHONPATH`` on one tree's ``src`` and the same model cache (each tree builds and
verifies its own graph files first, untimed), alternating old/new for ``--reps`` rounds; medians.

- ``front_s`` / ``decoder_s``: opening the windowed predictor and decoder for one 1-thread session
  (``KokoroBackend.new_session``, the mapped default);
- ``warm_up_s``: ``Engine().warm_up()`` in a new process (both G2Ps, a session per worker and the
  fast lane's, each run once), what a server or ``greentts say`` pays before its first audio.

    python bench/startup.py --baseline 2aa7c71 --reps 3 [--json FILE]
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

PREPARE = r"""
from greentts.models.kokoro import KokoroBackend
KokoroBackend().load()
"""

MEASURE = r"""
import json, time
t0 = time.perf_counter()
from greentts.models.kokoro import KokoroBackend
import greentts.models.kokoro as kokoro
opened = {}
real = kokoro.ort_session
def timed(path, *args, **kwargs):
    t = time.perf_counter()
    session = real(path, *args, **kwargs)
    opened["decoder_s" if "decoder" in str(path) else "front_s"] = time.perf_counter() - t
    return session
kokoro.ort_session = timed
backend = KokoroBackend()
backend.load()
backend.new_session(1)
kokoro.ort_session = real
from greentts import Engine
t = time.perf_counter()
with Engine() as engine:
    engine.warm_up()
    opened["warm_up_s"] = time.perf_counter() - t
print(json.dumps(opened))
"""

KEYS = ("front_s", "decoder_s", "warm_up_s")


def _run(src: Path, code: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{src}: {out.stderr[-2000:]}")
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="the earlier commit")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with baseline_tree(args.baseline) as tree:
        srcs = {"baseline": tree / "src", "this": ROOT / "src"}
        for src in srcs.values():  # build and verify each tree's graph files, untimed
            _run(src, PREPARE)
        rounds = alternate(srcs, args.reps, lambda src: _run(src, MEASURE))
    result: dict[str, object] = {name: {k: round(statistics.median(r[k] for r in runs), 3) for k in KEYS}
                                 for name, runs in rounds.items()}
    result["ratio_median"] = {k: round(statistics.median(t[k] / b[k] for t, b in zip(rounds["this"],
                                                                                   rounds["baseline"])), 3)
                              for k in KEYS}
    report(result, args.baseline, args.json)


if __name__ == "__main__":
    sys.exit(main())
