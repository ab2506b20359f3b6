"""A 30-minute, 4-speaker podcast script (English and Mandarin): wall time, RTF, peak RSS, energy.

Speakers Ann (af_heart), Ben (am_michael), Wei (zf_xiaoxiao, Mandarin) and Dev (bm_george) take turns
reading lines of ``energy_corpus_{en,zh}.txt`` until the script holds about ``--minutes`` of speech.
The dialogue is written with ``DialogueStream.save`` (mix + subtitles + timestamps, and ``--stems``)
by a fresh process, which reports its peak resident memory (VmHWM) at the end.

    python bench/dialogue.py [--minutes 30] [--stems] [--out bench/results/dialogue.json]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEAKERS = {"Ann": "af_heart", "Ben": "am_michael", "Wei": "zf_xiaoxiao", "Dev": "bm_george"}
EN_S_PER_CHAR, ZH_S_PER_CHAR = 0.065, 0.22  # rough speaking rates, only to size the script


def _script(minutes: float) -> str:
    en = [s for s in (HERE / "energy_corpus_en.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    zh = [s for s in (HERE / "energy_corpus_zh.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    lines = ["# voices: " + ", ".join(f"{k}={v}" for k, v in SPEAKERS.items())]
    estimate, i = 0.0, 0
    names = list(SPEAKERS)
    while estimate < minutes * 60:
        who = names[i % 4]
        text = zh[i % len(zh)] if who == "Wei" else en[i % len(en)]
        lines.append(f"{who}: {text}")
        estimate += len(text) * (ZH_S_PER_CHAR if who == "Wei" else EN_S_PER_CHAR) + 0.4
        i += 1
    return "\n".join(lines) + "\n"


def _peak_rss_mib() -> float:
    m = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())
    return int(m[1]) / 1024 if m else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--stems", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "dialogue.json")
    args = ap.parse_args()
    from greentts import Engine

    work = Path(tempfile.mkdtemp(prefix="greentts-bench-dialogue-"))
    script = _script(args.minutes)
    (work / "podcast.txt").write_text(script, encoding="utf-8")
    t = time.perf_counter()
    engine = Engine(idle_probe_s=0.5)
    engine.warm_up(("standard",))
    startup_s = time.perf_counter() - t
    rss_ready = _peak_rss_mib()
    report = engine.dialogue(script).save(work / "podcast.mp3", stems=args.stems)
    totals = engine.energy()
    engine.close()
    e = report.energy
    result = {
        "turns": report.turns, "speakers": report.speakers, "audio_min": round(report.duration_s / 60, 2),
        "wall_s": round(report.wall_s, 1), "rtf": round(report.rtf, 4), "x_real_time": round(1 / report.rtf, 2),
        "startup_s": round(startup_s, 1), "peak_rss_mib": {"after_warm_up": round(rss_ready), "at_end": round(_peak_rss_mib())},
        "energy": {"joules": round(e["joules"], 1), "kwh": e["kwh"], "gco2e": e["gco2e"], "method": e["method"],
                   "j_per_audio_min": round(e["joules"] / (report.duration_s / 60), 2),
                   "engine_total_j": round(totals.total_j, 1), "engine_idle_j": round(totals.idle_j, 1),
                   "engine_startup_j": round(totals.startup_j, 1)},
        "stems": args.stems, "files": [p.name for p in report.files],
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
