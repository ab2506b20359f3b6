"""One enrollment of a test case with enrollment constants overridden, scored like ``tests/test_clone.py``.

Used to choose enrollment settings (``docs/cloning.md``, "Articulation vs similarity"): each run enrolls
the case's reference clip with the given overrides and prints one ``RESULT`` line with the clone's
held-out-sentence scores (CAM++, GE2E, median F0, WER/CER), the enrollment wall time and per-stage times,
the chosen table and the RMS size of the timbre and prosody offsets in spreads.

    .venv/bin/python tools/clone_sweep.py xiaoyi W_REG_TIMBRE=0.4
    .venv/bin/python tools/clone_sweep.py lily W_REG_TIMBRE=0.6 STEPS=24

Cases: eric (am_eric, en, transcript given), xiaoyi (zf_xiaoyi, zh, Whisper transcript), lily (bf_lily
tape-speed x1.12, en, transcript given), nicole (af_nicole x1.12, en). Run it alone: it uses both cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import greentts.clone.enroll as enroll_module
from greentts import Engine
from greentts.clone.enroll import Prior
from greentts.clone.evaluate import REFERENCE_TEXT, Judge, reference_clip

CASES = {"eric": ("am_eric", "en", 1.0, True), "xiaoyi": ("zf_xiaoyi", "zh", 1.0, False),
         "lily": ("bf_lily", "en", 1.12, True), "nicole": ("af_nicole", "en", 1.12, True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("overrides", nargs="*", help="NAME=VALUE for constants of greentts.clone.enroll")
    args = ap.parse_args()
    for item in args.overrides:
        key, _, value = item.partition("=")
        if not hasattr(enroll_module, key):
            ap.error(f"greentts.clone.enroll has no constant {key!r}")
        setattr(enroll_module, key, int(value) if value.isdigit() else float(value))
    voice, lang, alter, with_text = CASES[args.case]
    eng = Engine(voices_dir=Path(tempfile.mkdtemp(prefix="greentts-sweep-")), idle_probe_s=0.1)
    try:
        judge = Judge(eng, eng._cache_dir())
        clip = reference_clip(eng, voice, lang, alter)
        ref = judge.reference(clip)
        t = time.perf_counter()
        meta = eng.enroll(clip, "candidate", text=REFERENCE_TEXT[lang] if with_text else None, sample_rate=24000,
                          exclude_voices=tuple(Prior.load().held_out)).wait()
        wall = time.perf_counter() - t
        score = judge.score("candidate", ref, lang)
        offset = (eng.voices.get("candidate").table[0] - eng.voices.get(meta["base_voice"]).table[0]) / Prior.load().spread
        print("RESULT", json.dumps({
            "case": args.case, "overrides": args.overrides, "score": score.as_dict(), "wall_s": round(wall, 1),
            "time_s": meta["time_s"], "chosen": meta["chosen"], "similarity": meta["similarity"],
            "clone_f0_hz": meta.get("clone_f0_median_hz"), "base_voice": meta["base_voice"],
            "reference_f0_hz": round(ref["pitch"].median_hz, 1), "duration_ratio": meta.get("duration_ratio"),
            "offset_rms_timbre": round(float(np.sqrt(np.mean(offset[:128] ** 2))), 3),
            "offset_rms_prosody": round(float(np.sqrt(np.mean(offset[128:] ** 2))), 3)}, default=float), flush=True)
    finally:
        eng.close()


if __name__ == "__main__":
    main()
