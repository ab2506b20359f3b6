"""Is a request's energy proportional to its audio? Text, then twice the text, on two warm engines.

Two default engines in one process, identical but for ``EngineConfig(fast_lane=...)``, take the same
requests in alternation (``Engine.synthesize``; the other engine idle meanwhile). For each kind of text
and each engine: the median joules of the text and of twice the text, their ratio next to the audio
ratio, and the ratio of the rendering parts alone (``speech`` + ``fast_lane``). With the fast lane on, a
one-segment request renders alone on every core (part ``fast_lane``) and twice the text runs on the
workers (``speech``); the last column says what the fast lane costs per audio second against the
1-thread workers rendering the same text (its "premium", reported as a part of its own).

Energy here is the CPU-time *estimate* (no RAPL, no GPU on these machines).

    python bench/proportional.py --reps 5 [--markdown FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from greentts import Engine

SENTENCE_EN = "The committee will publish its findings on the fourth of June."
TWO_ZH = "委员会将在六月四日公布调查结果。听证会在一周前结束。"
FIVE_EN = ("The committee will publish its findings on the fourth of June. The hearings close a week before. "
           "Witnesses may still send written evidence. Most of them have done so already. "
           "A summary will follow in the autumn.")
CASES = {"one English sentence": SENTENCE_EN, "two Mandarin sentences": TWO_ZH, "five English sentences": FIVE_EN}
RENDER = ("speech", "fast_lane")


def _twice(text: str) -> str:
    return text + ("" if text.endswith("。") else " ") + text


def _one(engine: Engine, text: str) -> dict[str, float]:
    engine.wait_idle()
    time.sleep(0.2)
    r = engine.synthesize(text)
    e = r.energy
    assert e is not None
    return {"joules": e.joules, "audio_s": r.duration_s, "render": sum(e.parts.get(p, 0.0) for p in RENDER),
            "fast_lane": e.parts.get("fast_lane", 0.0)}


def measure(reps: int) -> dict[str, Any]:
    runs: dict[str, dict[str, dict[str, list[dict[str, float]]]]] = {}
    with Engine(fast_lane=True) as lane, Engine(fast_lane=False) as workers:
        engines = {"fast lane on (default)": lane, "fast lane off": workers}
        for e in engines.values():
            e.warm_up()
        for rep in range(reps + 1):  # the first round warms every shape and is dropped
            for case, text in CASES.items():
                for name, e in engines.items():
                    one, two = _one(e, text), _one(e, _twice(text))
                    if rep:
                        per = runs.setdefault(case, {}).setdefault(name, {"1x": [], "2x": []})
                        per["1x"].append(one)
                        per["2x"].append(two)
    out: dict[str, Any] = {"reps": reps, "method": "estimated", "cases": {}}
    for case, per_engine in runs.items():
        rows = {}
        for name, per in per_engine.items():
            def med(k: str, which: str, per: dict = per) -> float:
                return statistics.median(x[k] for x in per[which])

            rows[name] = {"joules_1x": med("joules", "1x"), "joules_2x": med("joules", "2x"),
                          "audio_ratio": med("audio_s", "2x") / med("audio_s", "1x"),
                          "joules_ratio": statistics.median(b["joules"] / a["joules"]
                                                            for a, b in zip(per["1x"], per["2x"])),
                          "render_ratio": statistics.median(b["render"] / a["render"]
                                                            for a, b in zip(per["1x"], per["2x"])),
                          "fast_lane_share_1x": med("fast_lane", "1x") / med("joules", "1x"),
                          "j_per_audio_s_1x": med("joules", "1x") / med("audio_s", "1x")}
        on, off = rows["fast lane on (default)"], rows["fast lane off"]
        out["cases"][case] = {"engines": rows,
                              "fast_lane_premium": on["j_per_audio_s_1x"] / off["j_per_audio_s_1x"]}
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [f"Estimated joules (CPU-time model), medians of {res['reps']} alternating rounds "
             "(`python bench/proportional.py`).", "",
             "| text | engine | J (text) | J (2x text) | audio ratio | joules ratio | rendering ratio | "
             "fast-lane share of 1x | fast-lane premium |", "|---|---|---|---|---|---|---|---|---|"]
    for case, c in res["cases"].items():
        for name, r in c["engines"].items():
            premium = f"{c['fast_lane_premium']:.2f}x" if r["fast_lane_share_1x"] > 0.5 else ""
            lines.append(f"| {case} | {name} | {r['joules_1x']:.2f} | {r['joules_2x']:.2f} | "
                         f"{r['audio_ratio']:.2f} | {r['joules_ratio']:.2f} | {r['render_ratio']:.2f} | "
                         f"{100 * r['fast_lane_share_1x']:.0f} % | {premium} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--markdown", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    res = measure(args.reps)
    text = markdown(res)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
