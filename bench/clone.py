"""Voice cloning benchmark on real human speakers: stock voice, preview, clone and same-speaker ceiling.

Speakers (``bench/real_voices.py``): 17 real people (12 English, 5 Mandarin; 9 women, 8 men), taken out
of registry packages; none was used to fit the preview map or any weight. Per speaker, side by side in
one run, each judged by every speaker encoder against the **reference clip** (what enrollment got):

* ``stock``: the stock voice of the speaker's language that this judge finds closest (each judge picks
  its own best, so no voice is favoured by the judge that chose it);
* ``preview``: the instant voice (``steps=0``), and the time from the call to the saved voice;
* ``clone``: the full enrollment, with wall time and energy (estimated unless it says measured);
* ``ceiling``: a second recording of the same person (or the clip's other half), never given to
  enrollment, against the reference: what a perfect clone scores on this material.

Every voice reads the same held-out sentences (never used in enrollment). The share of the gap closed
is ``(clone - stock) / (ceiling - stock)``. Judges: CAM++ and Resemblyzer GE2E (both in enrollment's
loss and in its choice of start voice) and ECAPA (SpeechBrain's VoxCeleb model: in no loss, not used to
fit the preview map, never used to choose anything). Intelligibility: Whisper base WER (en) / CER (zh)
of the clone and of its start voice on the held-out sentences.

    .venv/bin/python bench/clone.py                   # all 17 speakers, about 35 minutes on 2 vCPUs
    .venv/bin/python bench/clone.py --speakers lj,s4  # some
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_voices import SPEAKERS, fetch  # noqa: E402

from greentts import Engine  # noqa: E402
from greentts.clone.enroll import STEPS  # noqa: E402
from greentts.clone.evaluate import HELD_OUT_SENTENCES, SpeakerJudges  # noqa: E402
from greentts.models.assets import default_cache_dir  # noqa: E402
from greentts.voices.clip import prepare_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_SENTENCES = {"en": 6, "zh": 6}
STAGES = ("stock", "preview", "clone")


def stock_voices(eng: Engine, lang: str) -> list[str]:
    prefixes = ("a", "b") if lang == "en" else ("z",)
    return [v for v in eng.voices.names() if v[0] in prefixes and v[1] in "fm" and v[2] == "_"]


def speak(eng: Engine, voice: str, lang: str) -> list[np.ndarray]:
    """The held-out sentences read by ``voice``, two at a time (the engine has a worker per core)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda t: eng.synthesize(t, voice=voice, lang=lang).audio,
                             HELD_OUT_SENTENCES[lang][:N_SENTENCES[lang]]))


def stock_embeddings(eng: Engine, judges: SpeakerJudges, lang: str,
                     cache: Path | None) -> dict[str, list[dict[str, np.ndarray]]]:
    """Every stock voice of ``lang`` reading the held-out sentences, embedded by every judge (cached in
    ``cache`` when given: the stock voices do not change between runs)."""
    path = None if cache is None else cache / f"stock-{lang}-{N_SENTENCES[lang]}-{'-'.join(judges.names)}.npz"
    if path is not None and path.is_file():
        with np.load(path) as z:
            out: dict[str, list[dict[str, np.ndarray]]] = {}
            for key in z.files:
                voice, i, j = key.split("|")
                out.setdefault(voice, [{} for _ in range(N_SENTENCES[lang])])[int(i)][j] = z[key]
            return out
    out = {v: [judges.embed(a) for a in speak(eng, v, lang)] for v in stock_voices(eng, lang)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f"{v}|{i}|{j}": e[j] for v, es in out.items() for i, e in enumerate(es) for j in e})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speakers", help="comma-separated names (default: all)")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "clone-bench")
    ap.add_argument("--no-preview", action="store_true", help="skip the instant voice (faster sweeps)")
    ap.add_argument("--stock-cache", type=Path, default=None,
                    help="keep the stock voices' embeddings here between runs")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a greentts.clone.enroll constant for this run (e.g. W_SPEC=0.2)")
    args = ap.parse_args()
    import greentts.clone.enroll as enroll_mod

    for item in args.set:
        key, value = item.split("=", 1)
        if not hasattr(enroll_mod, key):
            ap.error(f"greentts.clone.enroll has no constant {key}")
        setattr(enroll_mod, key, type(getattr(enroll_mod, key))(float(value)))
    cache = default_cache_dir()
    paths = fetch(cache)
    wanted = set(args.speakers.split(",")) if args.speakers else None
    speakers = [s for s in SPEAKERS if wanted is None or s.name in wanted]
    rows = []
    with tempfile.TemporaryDirectory() as voices, Engine(voices_dir=voices, idle_probe_s=1.0) as eng:
        judges = SpeakerJudges(cache)
        t = time.perf_counter()
        eng.enroller().kokoro  # load once (torch Kokoro, CAM++): reported separately from per-clip times
        load_s = time.perf_counter() - t
        stock = {lang: stock_embeddings(eng, judges, lang, args.stock_cache)
                 for lang in sorted({s.lang for s in speakers})}
        for sp in speakers:
            ref_path, second_path = paths[sp.name]
            clip = prepare_clip(ref_path)
            ref = judges.embed(clip.audio)
            second = judges.embed(prepare_clip(second_path).audio)
            row: dict[str, Any] = {"speaker": sp.name, "lang": sp.lang, "sex": sp.sex, "clip_s": round(clip.duration_s, 2),
                                   "window": clip.window.as_dict() if clip.window else None,
                                   "transcript": "given" if sp.transcript else "whisper"}
            row["ceiling"] = {j: judges.cos(second[j], ref[j]) for j in judges.names}
            best = {j: max(stock[sp.lang], key=lambda v: np.mean([judges.cos(e[j], ref[j]) for e in stock[sp.lang][v]]))
                    for j in judges.names}
            row["stock_voice"] = best
            row["stock"] = {j: float(np.mean([judges.cos(e[j], ref[j]) for e in stock[sp.lang][best[j]]]))
                            for j in judges.names}
            name = f"real-{sp.name}"
            if not args.no_preview:  # the instant voice: usable when enroll(background=True) returns
                t = time.perf_counter()
                job = eng.enroll(ref_path, f"{name}-preview", text=sp.transcript, lang=sp.lang, steps=0,
                                 background=True)
                row["preview_s"] = round(time.perf_counter() - t, 2)
                job.wait()
            t = time.perf_counter()
            meta = eng.enroll(ref_path, name, text=sp.transcript, lang=sp.lang, steps=args.steps).wait()
            row["enroll_wall_s"] = round(time.perf_counter() - t, 1)
            row.update(base_voice=meta["base_voice"], chosen=meta.get("chosen"), time_s=meta.get("time_s"),
                       energy_j=round(meta["energy"]["joules"], 1), energy_method=meta["energy"]["method"],
                       kwh=meta["energy"]["kwh"], gco2e=meta["energy"]["gco2e"])
            for stage, voice in (("preview", f"{name}-preview"), ("clone", name))[1 if args.no_preview else 0:]:
                audio = speak(eng, voice, sp.lang)
                embs = [judges.embed(a) for a in audio]
                row[stage] = {j: float(np.mean([judges.cos(e[j], ref[j]) for e in embs])) for j in judges.names}
                row[f"{stage}_vs_second"] = {j: float(np.mean([judges.cos(e[j], second[j]) for e in embs]))
                                             for j in judges.names}
                if stage == "clone":
                    row["asr_clone"] = judges.error_rate(audio, sp.lang, N_SENTENCES[sp.lang])
            row["asr_base"] = judges.error_rate(speak(eng, meta["base_voice"], sp.lang), sp.lang, N_SENTENCES[sp.lang])
            if args.no_preview:
                row["preview"], row["preview_s"] = dict(row["stock"]), float("nan")
            for stage in ("preview", "clone"):
                row[f"{stage}_gap_closed"] = {j: gap(row, stage, j) for j in judges.names}
            rows.append(_round(row))
            print(json.dumps(rows[-1]), flush=True)
    in_loss = ({"campplus"} | ({"ge2e"} if enroll_mod.W_GE2E > 0 else set())
               | ({"ecapa"} if enroll_mod.EXTRA_LOSS is not None else set()))
    summary = summarize(rows, judges.names, load_s, args.steps, in_loss)
    summary["overrides"] = args.set
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(summary, rows, judges.names))
    print(markdown(summary, rows, judges.names))
    return 0


def gap(row: dict, stage: str, j: str) -> float:
    room = row["ceiling"][j] - row["stock"][j]
    return (row[stage][j] - row["stock"][j]) / room if room > 1e-6 else float("nan")


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def summarize(rows: list[dict], names: tuple[str, ...], load_s: float, steps: int, in_loss: set[str]) -> dict[str, Any]:
    s: dict[str, Any] = {"load_s": round(load_s, 1), "steps": steps, "speakers": len(rows),
                         "judges": {j: ("in enrollment's loss" if j in in_loss else "not in any loss") for j in names}}
    for j in names:
        for k in (*STAGES, "ceiling"):
            s[f"{k}_{j}_mean"] = round(statistics.fmean(r[k][j] for r in rows), 4)
        for k in ("preview", "clone"):
            # share of the mean gap closed, and the mean of per-speaker shares
            s[f"{k}_{j}_gap_closed"] = round((s[f"{k}_{j}_mean"] - s[f"stock_{j}_mean"])
                                             / max(s[f"ceiling_{j}_mean"] - s[f"stock_{j}_mean"], 1e-6), 3)
            s[f"{k}_{j}_worse_than_stock"] = sum(r[k][j] < r["stock"][j] for r in rows)
    for k in ("enroll_wall_s", "preview_s", "energy_j"):
        s[f"{k}_median"] = round(statistics.median(r[k] for r in rows), 2)
    for lang in ("en", "zh"):
        rs = [r for r in rows if r["lang"] == lang]
        if rs:
            s[f"asr_{lang}_clone_mean"] = round(statistics.fmean(r["asr_clone"] for r in rs), 4)
            s[f"asr_{lang}_base_mean"] = round(statistics.fmean(r["asr_base"] for r in rs), 4)
    return s


def markdown(s: dict, rows: list[dict], names: tuple[str, ...]) -> str:
    title = {"campplus": "CAM++", "ge2e": "GE2E", "ecapa": "ECAPA"}
    label = {j: f"{title.get(j, j)} ({'in the loss' if s['judges'][j].startswith('in ') else 'not in any loss'})"
             for j in names}
    lines = ["# Voice cloning on real speakers (`python bench/clone.py`)", "",
             f"{s['speakers']} real speakers; enrollment {s['steps']} steps; models loaded once ({s['load_s']} s). "
             "Similarity = mean cosine between the voice reading held-out sentences and the reference clip; "
             "ceiling = a second recording of the same person against the reference. Gap closed = "
             "(mean clone - mean stock) / (mean ceiling - mean stock).", "",
             "| judge | best stock voice | preview | clone | same speaker | gap closed: preview / clone | "
             "speakers worse than stock: preview / clone |", "|---|---|---|---|---|---|---|"]
    for j in names:
        lines.append(f"| {label.get(j, j)} | {s[f'stock_{j}_mean']:.3f} | {s[f'preview_{j}_mean']:.3f} | "
                     f"{s[f'clone_{j}_mean']:.3f} | {s[f'ceiling_{j}_mean']:.3f} | "
                     f"{100 * s[f'preview_{j}_gap_closed']:.0f} % / {100 * s[f'clone_{j}_gap_closed']:.0f} % | "
                     f"{s[f'preview_{j}_worse_than_stock']} / {s[f'clone_{j}_worse_than_stock']} |")
    asr = "; ".join(f"{lang} {100 * s[f'asr_{lang}_base_mean']:.1f} % start voice, {100 * s[f'asr_{lang}_clone_mean']:.1f} % clone"
                    for lang in ("en", "zh") if f"asr_{lang}_clone_mean" in s)
    lines += ["", f"Intelligibility (Whisper base, WER en / CER zh, mean): {asr}. Median enrollment "
              f"{s['enroll_wall_s_median']} s wall, preview {s['preview_s_median']} s, {s['energy_j_median']} J "
              "(estimated).", "", "| speaker | lang, sex | clip s (window) | "
              + " | ".join(f"{j}: stock / preview / clone / ceiling" for j in names) + " | ASR start / clone | enroll s |",
              "|---|---|---|" + "---|" * len(names) + "---|---|"]
    for r in rows:
        w = f" ({r['window']['start_s']}-{r['window']['end_s']})" if r["window"] else ""
        cells = " | ".join(f"{r['stock'][j]:.3f} / {r['preview'][j]:.3f} / {r['clone'][j]:.3f} / {r['ceiling'][j]:.3f}"
                           for j in names)
        lines.append(f"| {r['speaker']} | {r['lang']}, {r['sex']} | {r['clip_s']}{w} | {cells} | "
                     f"{100 * r['asr_base']:.1f} % / {100 * r['asr_clone']:.1f} % | {r['enroll_wall_s']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
