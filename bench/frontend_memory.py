"""The frontend's memory and speed with the G2P dictionaries as on-disk tables vs in memory, side by side.

Each measurement runs in a fresh process (alternating the two kinds for ``--reps`` rounds; medians):

* load: ``Frontend.warm_up()`` (English and Mandarin G2P, their dictionaries), seconds and RSS added;
* plan: every sentence of the English and Mandarin corpora (bench/corpus/hard_*.tsv, bench/corpus_*.txt)
  planned into phoneme ids, milliseconds per sentence, and RSS added by the end;
* the ids of both kinds are compared (they must be equal).

RSS is measured after importing numpy and onnxruntime, which every engine imports anyway. The tables
are built beforehand (once per machine), so the load is the steady state.

    python bench/frontend_memory.py --reps 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("dicts", "tables")


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


def _sentences() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lang in ("en", "zh"):
        rows = [r.split("\t") for r in (HERE / "corpus" / f"hard_{lang}.tsv").read_text("utf-8").splitlines()]
        plain = (HERE / f"corpus_{lang}.txt").read_text("utf-8").splitlines()
        out[lang] = [r[1] for r in rows if len(r) > 1 and not r[0].startswith("#")] + [s for s in plain if s]
    return out


def child(kind: str) -> None:
    import numpy  # noqa: F401 - imported by every engine anyway; not counted
    import onnxruntime  # noqa: F401

    from greentts.text.frontend import Frontend

    base = _rss_mb()
    t = time.perf_counter()
    frontend = Frontend(compact=kind == "tables")
    frontend.warm_up()
    load_s, load_mb = time.perf_counter() - t, _rss_mb() - base
    texts = _sentences()
    digest = hashlib.sha256()
    t = time.perf_counter()
    for lang, sentences in texts.items():
        for s in sentences:
            for seg in frontend.phonemize(s, lang=lang, first_max_ids=510):
                digest.update(repr(tuple(seg.ids)).encode())
    n = sum(len(v) for v in texts.values())
    print(json.dumps({"load_s": load_s, "load_mb": load_mb, "plan_ms": (time.perf_counter() - t) / n * 1000,
                      "end_mb": _rss_mb() - base, "sentences": n, "ids": digest.hexdigest()}))


def _run(kind: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--child", choices=KINDS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    _run("tables")  # build the tables if this machine has none yet (not measured)
    rounds = []
    for i in range(args.reps):
        order = KINDS if i % 2 == 0 else KINDS[::-1]
        rounds.append({kind: _run(kind) for kind in order})
    same = len({r[k]["ids"] for r in rounds for k in KINDS}) == 1
    print(f"| measure ({args.reps} rounds, medians) | " + " | ".join(KINDS) + " |")
    print("|---|---|---|")
    for key, title in (("load_s", "warm_up (s)"), ("load_mb", "RSS added by warm_up (MB)"),
                       ("plan_ms", "plan, ms per sentence"), ("end_mb", "RSS added at the end (MB)")):
        vals = [statistics.median(r[k][key] for r in rounds) for k in KINDS]
        print(f"| {title} | " + " | ".join(f"{v:.2f}" if key.endswith("_s") or key == "plan_ms" else f"{v:.0f}"
                                          for v in vals) + " |")
    print(f"\nsentences: {rounds[0]['tables']['sentences']}; phoneme ids identical in every run: {same}")
    if not same:
        raise SystemExit("the two kinds gave different phoneme ids")


if __name__ == "__main__":
    main()
