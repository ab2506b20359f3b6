"""Voice cloning benchmark: enroll unseen speakers, compare with the nearest stock voice.

For each case a reference clip (about 10 s) is spoken by a stock voice the cloning prior never saw,
optionally tape-speed altered; every held-out voice is excluded from the start set. Then, side by side
in one run, on the held-out sentences (6 en, 12 zh):

* ``stock``: the nearest stock voice (CAM++), i.e. the best a user gets without cloning;
* ``preview``: the instant preview (the learned map, no gradient steps: ``steps=0``);
* ``clone``: the full enrollment (default steps).

Reported per voice: similarity to the reference (CAM++, which enrollment optimises, and Resemblyzer
GE2E, which it never sees), median-F0 error vs the reference, Whisper-base WER (en) / CER (zh); per
enrollment: wall time, preview time and energy (estimated on machines without RAPL/NVML). Medians over
cases at the end. Writes ``docs/clone-bench.json`` and ``docs/clone-bench.md``.

    .venv/bin/python bench/clone.py            # 7 cases, about 20 minutes on 2 vCPUs
    .venv/bin/python bench/clone.py --quick    # 3 cases
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from greentts import Engine
from greentts.clone.enroll import STEPS, Prior
from greentts.clone.evaluate import REFERENCE_TEXT, Judge, reference_clip
from greentts.models.assets import default_cache_dir

ROOT = Path(__file__).resolve().parents[1]
# name -> (held-out voice, language, tape-speed factor, transcript given)
CASES = {
    "am_eric": ("am_eric", "en", 1.0, True),
    "zf_xiaoyi": ("zf_xiaoyi", "zh", 1.0, False),
    "af_nicole_x1.12": ("af_nicole", "en", 1.12, True),
    "bf_lily": ("bf_lily", "en", 1.0, False),
    "zm_yunxia": ("zm_yunxia", "zh", 1.0, True),
    "af_nicole": ("af_nicole", "en", 1.0, True),
    "am_eric_x0.9": ("am_eric", "en", 0.9, True),
}
QUICK = ("am_eric", "zf_xiaoyi", "af_nicole_x1.12")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "clone-bench")
    args = ap.parse_args()
    held_out = tuple(Prior.load().held_out)
    cases = {k: v for k, v in CASES.items() if not args.quick or k in QUICK}
    rows = []
    with tempfile.TemporaryDirectory() as voices, Engine(voices_dir=voices, idle_probe_s=1.0) as eng:
        judge = Judge(eng, default_cache_dir())
        t = time.perf_counter()
        eng.enroller().kokoro  # load once (torch Kokoro, CAM++): reported separately from per-clip times
        load_s = time.perf_counter() - t
        for case, (voice, lang, alter, with_text) in cases.items():
            clip = reference_clip(eng, voice, lang, alter)
            text = REFERENCE_TEXT[lang] if with_text else None
            name = "clone-" + case.replace(".", "-").replace("_", "-").lower()
            t = time.perf_counter()
            preview = eng.enroll(clip, f"{name}-preview", text=text, sample_rate=24000, steps=0,
                                 exclude_voices=held_out).wait()
            t = time.perf_counter()
            meta = eng.enroll(clip, name, text=text, sample_rate=24000, steps=args.steps,
                              exclude_voices=held_out).wait()
            wall = time.perf_counter() - t
            ref = judge.reference(clip)
            scores = {"stock": judge.score(meta["base_voice"], ref, lang),
                      "preview": judge.score(f"{name}-preview", ref, lang), "clone": judge.score(name, ref, lang)}
            f0 = ref["pitch"].median_hz
            row = {"case": case, "lang": lang, "alter": alter, "transcript": "given" if with_text else
                   meta.get("transcript_source") or "none", "base_voice": meta["base_voice"],
                   "reference_f0_hz": round(f0, 1), "clip_s": meta["clip_s"], "enroll_wall_s": round(wall, 1),
                   "preview_s": round(preview["time_s"]["analyse_s"] + preview["time_s"]["preview_s"], 2),
                   "energy_j": round(meta["energy"]["joules"], 1), "energy_method": meta["energy"]["method"],
                   "kwh": meta["energy"]["kwh"], "gco2e": meta["energy"]["gco2e"]}
            for k, s in scores.items():
                row[k] = {**s.as_dict(), "f0_error": round(abs(s.f0_median_hz - f0) / f0, 4)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {"load_s": round(load_s, 1), "steps": args.steps, "cases": len(rows)}
    for k in ("stock", "preview", "clone"):
        for metric in ("campplus", "resemblyzer", "f0_error", "error_rate"):
            summary[f"{k}_{metric}_median"] = round(statistics.median(r[k][metric] for r in rows), 4)
    for metric in ("enroll_wall_s", "preview_s", "energy_j"):
        summary[f"{metric}_median"] = round(statistics.median(r[metric] for r in rows), 2)
    summary["ge2e_gain_median"] = round(statistics.median(r["clone"]["resemblyzer"] - r["stock"]["resemblyzer"]
                                                          for r in rows), 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(summary, rows))
    print(markdown(summary, rows))
    return 0


def markdown(summary: dict, rows: list[dict]) -> str:
    lines = ["# Voice cloning benchmark (`python bench/clone.py`)", "",
             f"Enrollment: {summary['steps']} steps; models loaded once ({summary['load_s']} s). "
             "Similarity = cosine to the reference clip on held-out sentences (mean; 6 en, 12 zh). F0 error = |median F0 - "
             "reference| / reference. ASR = Whisper base WER (en) / CER (zh). Energy is the enrollment's, "
             "estimated by the CPU-time model unless the method says measured.", "",
             "| case | base voice | CAM++ stock / preview / clone | GE2E stock / preview / clone | F0 err stock / clone "
             "| ASR stock / clone | enroll s | preview s | energy J |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, p, c = r["stock"], r["preview"], r["clone"]
        lines.append(f"| {r['case']} ({r['lang']}, transcript {r['transcript']}) | {r['base_voice']} | "
                     f"{s['campplus']:.3f} / {p['campplus']:.3f} / {c['campplus']:.3f} | "
                     f"{s['resemblyzer']:.3f} / {p['resemblyzer']:.3f} / {c['resemblyzer']:.3f} | "
                     f"{100 * s['f0_error']:.1f}% / {100 * c['f0_error']:.1f}% | "
                     f"{100 * s['error_rate']:.1f}% / {100 * c['error_rate']:.1f}% | {r['enroll_wall_s']} | "
                     f"{r['preview_s']} | {r['energy_j']} |")
    m = summary
    lines += ["", f"Medians: CAM++ {m['stock_campplus_median']} / {m['preview_campplus_median']} / "
              f"{m['clone_campplus_median']}; GE2E {m['stock_resemblyzer_median']} / "
              f"{m['preview_resemblyzer_median']} / {m['clone_resemblyzer_median']} (gain over stock "
              f"{m['ge2e_gain_median']}); F0 error {100 * m['stock_f0_error_median']:.1f}% / "
              f"{100 * m['clone_f0_error_median']:.1f}%; ASR {100 * m['stock_error_rate_median']:.1f}% / "
              f"{100 * m['clone_error_rate_median']:.1f}%; enrollment {m['enroll_wall_s_median']} s, preview "
              f"{m['preview_s_median']} s, {m['energy_j_median']} J.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
