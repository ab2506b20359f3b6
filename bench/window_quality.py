"""The windowed Kokoro graph against the whole graph, side by side: work saved, time, and how far the sound moved.

For each sentence of the throughput corpus (bench/corpus_en.txt + corpus_zh.txt, two voices per language)
and a set of short first-segment-like utterances, the same phoneme ids are spoken by

* **whole**: the im2col graph (bit-identical to Kokoro as shipped), every frame rendered;
* **windowed**: ``kokoro_graph="windowed"`` (greentts.models.windowing), the default;
* **fp32**: the torch rebuild of the same weights in float32 (greentts.clone.kokoro_torch), with the
  same durations: a yardstick for how far int8 already is from the network it quantizes.

Reported per group (medians): decoder frames saved, wall time per segment (1-thread sessions, the two
graphs alternating, ratio of medians of per-segment ratios), log-mel distance (dB) over the speech
(from the first phoneme's frame to the last token's) windowed vs whole, whole vs fp32 and windowed vs
fp32, and loudness ratio windowed / whole. Needs the clone extra (torch, librosa).

    python bench/window_quality.py [--per-lang 24] [--reps 3] [--json docs/window-quality.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VOICES = {"en": ("af_heart", "am_michael"), "zh": ("zf_xiaoxiao", "zm_yunxi")}
SHORT = [("Yes.", "en"), ("Hi.", "en"), ("Thanks.", "en"), ("Hello there.", "en"), ("Welcome back.", "en"),
         ("OK", "en"), ("No way!", "en"), ("Good morning,", "en"), ("好的。", "zh"), ("不行！", "zh"),
         ("谢谢。", "zh"), ("欢迎回来。", "zh"), ("你好，", "zh"), ("没问题。", "zh")]


def _cases(per_lang: int) -> dict[str, list[tuple[str, str, str]]]:
    groups: dict[str, list[tuple[str, str, str]]] = {"sentences": [], "short": []}
    for lang in ("en", "zh"):
        lines = [s for s in (HERE / f"corpus_{lang}.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
        groups["sentences"] += [(s, lang, VOICES[lang][i % 2]) for i, s in enumerate(lines[:per_lang])]
    groups["short"] = [(s, lang, VOICES[lang][i % 2]) for i, (s, lang) in enumerate(SHORT)]
    return groups


def _timed(fn, reps: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(per_lang: int, reps: int) -> dict:
    import torch

    from greentts.clone.kokoro_torch import TorchKokoro
    from greentts.models.assets import kokoro_model_path
    from greentts.models.kokoro import SILENT_IDS, KokoroBackend
    from greentts.models.windowing import plan_window
    from greentts.quality.spectral import mel_distance_db
    from greentts.text.frontend import Frontend
    from greentts.voices.store import VoiceStore

    whole, windowed = (KokoroBackend(None, g).new_session(1) for g in ("im2col", "windowed"))
    fp32 = TorchKokoro(str(kokoro_model_path(None)), threads=1)
    frontend, voices = Frontend(), VoiceStore()
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    out: dict = {}
    for group, cases in _cases(per_lang).items():
        rows = []
        for text, lang, name in cases:
            voice = voices.get(name)
            ids = frontend.phonemize(text, lang=lang, first_max_ids=510)[0].ids
            b, d = whole.synthesize_timed(ids, voice, 1.0)
            a, _ = windowed.synthesize_timed(ids, voice, 1.0)
            with torch.no_grad():
                c = fp32.forward(fp32.prepare(list(ids)), torch.as_tensor(voice.style(len(ids)).reshape(1, 256)), 1.0,
                                 durations=torch.as_tensor(d)).audio.numpy()
            w = plan_window(d, 2 if ids[-1] in SILENT_IDS else 1)
            speech = slice(int(d[0]) * 600, int(d[:-1].sum()) * 600)
            t_whole = _timed(lambda: whole.synthesize(ids, voice, 1.0), reps)
            t_win = _timed(lambda: windowed.synthesize(ids, voice, 1.0), reps)
            rows.append({"text": text, "voice": name, "frames": int(d.sum()), "rendered": w.end - w.start,
                         "saved": 1 - (w.end - w.start) / float(d.sum()), "whole_s": t_whole, "windowed_s": t_win,
                         "speedup": t_whole / t_win,
                         "mel_windowed_whole": mel_distance_db(b[speech], a[speech], 24000),
                         "mel_whole_fp32": mel_distance_db(c[speech], b[speech], 24000),
                         "mel_windowed_fp32": mel_distance_db(c[speech], a[speech], 24000),
                         "loudness": rms(a[speech]) / rms(b[speech])})
            print(f"[{group}] {text[:40]!r}: saved {rows[-1]['saved']:.2f}, x{rows[-1]['speedup']:.2f}, "
                  f"mel {rows[-1]['mel_windowed_whole']:.2f} dB", flush=True)
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if isinstance(rows[0][k], float)}
        med.update(n=len(rows), max_mel_windowed_whole=max(r["mel_windowed_whole"] for r in rows),
                   min_loudness=min(r["loudness"] for r in rows),
                   time_ratio_total=sum(r["whole_s"] for r in rows) / sum(r["windowed_s"] for r in rows))
        out[group] = {"median": med, "rows": rows}
    return out


def markdown(res: dict) -> str:
    lines = ["| group | segments | frames saved | speed-up (median / total) | mel dB windowed vs whole (median / max) "
             "| whole vs fp32 | windowed vs fp32 | loudness windowed / whole (median / min) |", "|---|---|---|---|---|---|---|---|"]
    for group, r in res.items():
        m = r["median"]
        lines.append(f"| {group} | {m['n']} | {m['saved']:.0%} | {m['speedup']:.2f}x / {m['time_ratio_total']:.2f}x | "
                     f"{m['mel_windowed_whole']:.2f} / {m['max_mel_windowed_whole']:.2f} | {m['mel_whole_fp32']:.2f} | "
                     f"{m['mel_windowed_fp32']:.2f} | {m['loudness']:.3f} / {m['min_loudness']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-lang", type=int, default=24, help="corpus sentences per language")
    ap.add_argument("--reps", type=int, default=3, help="timed runs per segment and graph")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = measure(args.per_lang, args.reps)
    print(markdown(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
