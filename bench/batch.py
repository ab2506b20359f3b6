"""Batch throughput: a 500-item mixed English + Mandarin job, three ways, side by side in one run.

* ``loop``  — ``Engine.synthesize`` + ``Result.save`` for one item after another (what a script does);
* ``batch`` — ``run_batch`` with a :class:`~greentts.jobs.LocalRenderer` (items in flight on all cores,
  atomic writes, manifest with fsync);
* ``ray``   — ``run_batch`` with a ``RayRenderer`` on a local Ray cluster of 2 worker processes.

Items are customer-service-length prompts: the first clause of each line of
``energy_corpus_{en,zh}.txt`` (English and Mandarin alternating, standard tier). The items are dealt
into ``--rounds`` slices; each round runs its slice in every mode (the order rotates), so machine noise
hits all modes alike, and the ratios quoted are medians over rounds. Engines and the Ray cluster are
started and warmed before timing; their start-up is reported separately.

    python bench/batch.py [--items 500] [--rounds 5] [--no-ray] [--out bench/results/batch.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from greentts import Engine
from greentts.jobs import LocalRenderer, TaskDefaults, load_tasks, run_batch

HERE = Path(__file__).resolve().parent


def _items(n: int) -> list[dict]:
    en = [s for s in (HERE / "energy_corpus_en.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    zh = [s for s in (HERE / "energy_corpus_zh.txt").read_text(encoding="utf-8").splitlines() if s.strip()]

    def clause(s: str, sep: str, end: str) -> str:
        head = re.split(sep, s, maxsplit=1)[0].strip()
        return head + end if len(head) >= 12 and head != s.strip() else s.strip()

    rows = []
    for i in range(n):
        if i % 2 == 0:
            text, voice = clause(en[(i // 2) % len(en)], r",", "."), "af_heart"
        else:
            text, voice = clause(zh[(i // 2) % len(zh)], r"，", "。"), "zf_xiaoxiao"
        rows.append({"input_text": text, "output_name": f"{i:04d}", "voice": voice})
    return rows


def _loop(engine: Engine, tasks: list, out: Path) -> dict:
    t0 = time.perf_counter()
    audio = joules = 0.0
    for t in tasks:
        r = engine.synthesize(t.text, **t.settings)
        r.save(out / t.output)
        audio += r.duration_s
        joules += r.energy.joules if r.energy else 0.0
    return {"wall_s": time.perf_counter() - t0, "audio_s": audio, "joules": joules}


def _batch(renderer, tasks: list, out: Path) -> dict:
    s = run_batch(renderer, tasks, out)
    assert s.ok == len(tasks) and s.failed == 0, s.failures
    return {"wall_s": s.wall_s, "audio_s": s.audio_s, "joules": s.energy.joules, "sentences": s.sentences,
            "kwh": s.energy.kwh, "gco2e": s.energy.gco2e}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "batch.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="greentts-bench-batch-"))
    rows = _items(args.items)
    (work / "tasks.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    tasks, bad = load_tasks(work / "tasks.jsonl", TaskDefaults())
    assert not bad, bad
    t = time.perf_counter()
    engine = Engine(idle_probe_s=0.5)
    engine.warm_up(("standard",))
    startup = {"engine_s": round(time.perf_counter() - t, 2)}
    local = LocalRenderer(engine)
    modes = ["loop", "batch"]
    ray = None
    if not args.no_ray:
        from greentts.cluster.ray_batch import RayRenderer

        t = time.perf_counter()
        ray = RayRenderer(None, 2)
        ray.pids()
        warm = [ray.submit(tasks[i], None) for i in range(4)]  # load each worker's engine and sessions
        for f in warm:
            f.result()
        startup["ray_cluster_s"] = round(time.perf_counter() - t, 2)
        modes.append("ray")
    warm_dir = work / "warm"
    _batch(local, tasks[:4], warm_dir)
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(args.rounds):
        part = tasks[r::args.rounds]
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            out = work / f"{mode}-{r}"
            out.mkdir()
            if mode == "loop":
                res = _loop(engine, part, out)
            else:
                res = _batch(local if mode == "batch" else ray, part, out)
            res["items"] = len(part)
            results[mode].append(res)
            print(f"round {r + 1}/{args.rounds} {mode:5s}: {len(part)} items, {res['audio_s']:.1f} s audio in "
                  f"{res['wall_s']:.1f} s ({res['audio_s'] / res['wall_s']:.2f}x real time), "
                  f"{res['joules']:.0f} J", flush=True)
    ratios = {"batch_vs_loop": [lo["wall_s"] / b["wall_s"] for lo, b in zip(results["loop"], results["batch"])]}
    if ray is not None:
        ratios["ray_vs_batch"] = [b["wall_s"] / ra["wall_s"] for b, ra in zip(results["batch"], results["ray"])]
        ratios["ray_vs_loop"] = [lo["wall_s"] / ra["wall_s"] for lo, ra in zip(results["loop"], results["ray"])]
    totals = {m: {k: sum(x[k] for x in v) for k in ("wall_s", "audio_s", "joules")} for m, v in results.items()}
    b = results["batch"]
    sentences = sum(x["sentences"] for x in b)
    summary = {
        "items": args.items, "rounds": args.rounds, "cores": os.cpu_count(), "startup": startup,
        "ratios_median": {k: round(statistics.median(v), 3) for k, v in ratios.items()},
        "ratios": {k: [round(x, 3) for x in v] for k, v in ratios.items()},
        "totals": {m: {**{k: round(x, 2) for k, x in t.items()}, "x_real_time": round(t["audio_s"] / t["wall_s"], 2),
                       "j_per_item": round(t["joules"] / args.items, 3)} for m, t in totals.items()},
        "batch_energy": {"method": "estimated (CPU-time model; no RAPL here)", "sentences": sentences,
                         "kwh_per_1000_sentences": sum(x["kwh"] for x in b) / sentences * 1000,
                         "gco2e_per_1000_sentences": sum(x["gco2e"] for x in b) / sentences * 1000},
        "python": sys.version.split()[0],
    }
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    local.close()
    if ray is not None:
        ray.close()
    engine.close()


if __name__ == "__main__":
    main()
