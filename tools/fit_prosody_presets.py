"""Fit the prosody presets shipped as ``src/greentts/data/prosody_presets.npz``.

A preset is an additive vector on the prosody half of a Kokoro style table (``table[:, 128:] += preset``),
so it applies to any voice. ``neutral`` is the implicit zero vector and is not stored.

Fitting (cheap, differentiable): the PyTorch Kokoro predictor only (``TorchKokoro.forward(audio=False)``),
over FIT_VOICES (en-us, en-gb and zh, both genders, 12 voices) x 3 short sentences of each voice's language.
Each preset is ``delta * spread`` (``spread``: the per-dimension std of the 54 stock tables' prosody half,
averaged over rows) and ``delta`` is fitted by Adam to targets RELATIVE to the same voice and sentence
without the preset:

* level: shift of the mean ln F0 over voiced frames, in semitones;
* range: ratio of the std of ln F0 over voiced frames;
* rate:  ratio of total predicted duration, as a speaking rate (``dur_neutral / dur_preset``; > 1 faster).

"Voiced" is a soft mask, F0 above max(50 Hz, half the neutral median F0 of that voice and sentence): a hard
``F0 > 50 Hz`` mask let voicing transitions dominate the std and made Adam jump out of good solutions.
The loss is the squared miss of each target (in "just noticeable" units, SCALE) per utterance, a hinge that
pushes every utterance in the intended direction (MARGINS), and an L2 penalty on ``delta`` so the preset
stays inside the stock voices' distribution. Each Adam step uses a fixed-seed random minibatch; the full set
is scored every ``--eval-every`` steps and the best ``delta`` kept. The achieved figures (median and min-max
over all fitted utterances) are printed and stored as JSON in the ``targets`` entry of the npz.

    .venv/bin/python tools/fit_prosody_presets.py             # fit and save (~12 min, 1 thread, busy 2 vCPUs)
    .venv/bin/python tools/fit_prosody_presets.py --verify --verify-out /tmp/presets_verify.md
                                                              # check the saved presets (~3 min)

``--verify`` synthesizes with onnxruntime (the shipping path) and measures pitch with
``greentts.clone.analysis.pitch_stats`` (pYIN) on VERIFY_VOICES x VERIFY_SENTENCES (none used in fitting):
per preset vs neutral, the change in F0 range (p10-p90, semitones), in median F0 (semitones) and the duration
ratio, and checks the intended directions (DIRECTIONS) over all and per voice. The same figures are also taken
from the F0 contour the predictor feeds the decoder (TorchKokoro, same style rows), independent of any pitch
tracker (pYIN locks onto ~80 Hz on zm_yunyang, for instance).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "greentts" / "data" / "prosody_presets.npz"

# level: semitones; range: ratio of ln-F0 std; rate: speaking-rate ratio (> 1 = faster, shorter).
PRESETS: dict[str, dict[str, float]] = {
    "news": {"level_st": 0.0, "range": 1.0, "rate": 1.12},
    "storytelling": {"level_st": 0.5, "range": 1.35, "rate": 0.88},
    "cheerful": {"level_st": 2.0, "range": 1.4, "rate": 1.08},
    "calm": {"level_st": -1.0, "range": 0.7, "rate": 0.85},
    "serious": {"level_st": -2.0, "range": 0.8, "rate": 0.95},
}
# One unit of loss per "just noticeable" miss: 0.5 st of level, 10 % of range, 4 % of rate.
SCALE = {"level_st": 0.5, "range": np.log(1.10), "rate": np.log(1.04)}

# Per-utterance direction floors (metric, sign, margin): a hinge, squared in SCALE units, pushes every fitted
# utterance at least ``margin`` in the intended direction (level in st; range and rate as ratios), so a preset
# does not meet its target on the median only, by overshooting on some voices and reversing on others.
MARGINS: dict[str, list[tuple[str, int, float]]] = {
    "news": [("rate", +1, 1.05)],
    "storytelling": [("range", +1, 1.10), ("rate", -1, 0.95)],
    "cheerful": [("range", +1, 1.10), ("rate", +1, 1.03), ("level_st", +1, 0.75)],
    "calm": [("range", -1, 0.90), ("rate", -1, 0.95)],
    "serious": [("range", -1, 0.90), ("level_st", -1, -0.75)],
}

FIT_VOICES = ("af_heart", "af_bella", "am_michael", "am_fenrir", "bf_emma", "bf_isabella", "bm_george", "bm_lewis",
              "zf_xiaoxiao", "zf_xiaobei", "zm_yunxi", "zm_yunjian")
FIT_SENTENCES = {
    "en": ["A light rain fell on the quiet streets of the town.",
           "Please leave your name and number after the tone.",
           "He bought fresh bread and cheese at the market."],
    "zh": ["小雨轻轻地落在安静的街道上。", "请在提示音后留下您的姓名和电话。", "他在市场上买了新鲜的面包和奶酪。"],
}
VERIFY_VOICES = ("af_sarah", "am_puck", "bf_alice", "bm_daniel", "zf_xiaoni", "zm_yunyang")
VERIFY_SENTENCES = {
    "en": ["The museum opens at ten and closes at six.",
           "We walked along the river until the sun went down.",
           "Could you tell me the way to the train station?"],
    "zh": ["博物馆早上十点开门，下午六点关门。", "我们沿着河边一直走到太阳落山。", "请问去火车站怎么走？"],
}
# Intended directions on real audio: (metric, sign) with metric in range (d range_st), level (d median st),
# dur (duration ratio - 1).
DIRECTIONS = {
    "news": [("dur", -1)],
    "storytelling": [("range", +1), ("dur", +1)],
    "cheerful": [("range", +1), ("dur", -1), ("level", +1)],
    "calm": [("range", -1), ("dur", +1)],
    "serious": [("range", -1), ("level", -1)],
}
ST = 12.0 / np.log(2.0)


def lang_of(eng, voice: str) -> str:
    return "zh" if eng.voices.get(voice).lang == "zh" else "en"


def ids_of(eng, text: str, voice: str) -> list[int]:
    segs = eng.phonemize(text, voice=voice, lang=lang_of(eng, voice))
    if len(segs) != 1:
        raise SystemExit(f"{text!r} for {voice} gave {len(segs)} segments; keep fitting sentences to one")
    return list(segs[0].ids)


def spread_of(eng) -> np.ndarray:
    tables = np.stack([eng.voices.get(n).table for n in eng.voices.names()]).astype(np.float32)
    return (tables.std(axis=0).mean(axis=0)[128:] + 1e-4).astype(np.float32)


# ------------------------------------------------------------------------------------------- fitting


def fit(args: argparse.Namespace) -> None:
    import torch

    from greentts import Engine
    from greentts.clone.kokoro_torch import TorchKokoro
    from greentts.models.assets import kokoro_model_path

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    eng = Engine(workers=1, threads_per_worker=args.threads)
    spread = spread_of(eng)
    tk = TorchKokoro(kokoro_model_path(), threads=args.threads)
    spread_t = torch.from_numpy(spread)

    def stats(out, thr: float) -> tuple:  # noqa: ANN001
        """Weighted mean and std of ln F0 over voiced frames, and the total predicted duration.

        Voiced = F0 above ``thr`` (max(50 Hz, half the neutral median F0 of that voice and sentence)), with a
        soft edge (a sigmoid 10 % of ``thr`` wide): with a hard ``F0 > 50 Hz`` mask the voicing transitions,
        which sweep through 50-100 Hz in a few frames, enter and leave the set as the style moves and dominate
        the std of ln F0, and Adam jumped out of good solutions.
        """
        f0 = out.f0.clamp(min=1.0)
        w = torch.sigmoid((f0 - thr) / (0.1 * thr))
        lf = torch.log(f0)
        mean = (w * lf).sum() / w.sum()
        std = ((w * (lf - mean) ** 2).sum() / w.sum()).sqrt()
        return mean, std, out.dur_float.sum()

    utts, preps = [], {}
    with torch.no_grad():
        for v in FIT_VOICES:
            table = eng.voices.get(v).table
            for text in FIT_SENTENCES[lang_of(eng, v)]:
                ids = ids_of(eng, text, v)
                key = tuple(ids)
                if key not in preps:
                    preps[key] = tk.prepare(ids)
                base = torch.from_numpy(np.array(table[len(ids) - 1: len(ids)], np.float32))
                out0 = tk.forward(preps[key], base, audio=False)
                thr = max(50.0, 0.5 * float(out0.f0[out0.f0 > 50.0].median()))
                m0, s0, d0 = stats(out0, thr)
                utts.append({"voice": v, "text": text, "prep": preps[key], "base": base,
                             "thr": thr, "m0": m0, "s0": s0, "d0": d0})
    print(f"{len(utts)} utterances ({len(FIT_VOICES)} voices), set up in {time.perf_counter() - t_start:.0f} s",
          flush=True)

    def achieved(delta: "torch.Tensor", subset: list[dict]) -> tuple["torch.Tensor", ...]:
        """Per-utterance (level_st, ln range ratio, ln rate ratio), differentiable w.r.t. delta."""
        lv, rg, rt = [], [], []
        for u in subset:
            style = u["base"].clone()
            style = torch.cat([style[:, :128], style[:, 128:] + delta * spread_t], dim=1)
            m, s, d = stats(tk.forward(u["prep"], style, audio=False), u["thr"])
            lv.append(ST * (m - u["m0"]))
            rg.append(torch.log(s / u["s0"]))
            rt.append(torch.log(u["d0"] / d))
        return torch.stack(lv), torch.stack(rg), torch.stack(rt)

    rng = np.random.default_rng(args.seed)
    presets: dict[str, np.ndarray] = {}
    doc: dict[str, object] = {
        "definition": "table[:, 128:] += preset; level_st = shift of mean ln F0 over voiced frames (soft mask, F0 > "
                      "max(50 Hz, half the neutral median)) in semitones; "
                      "range = ratio of std ln F0; rate = dur_neutral / dur_preset (> 1 faster); all relative to "
                      "the same voice and sentence without the preset, on the TorchKokoro predictor",
        "fit_voices": list(FIT_VOICES), "fit_sentences": FIT_SENTENCES,
        "margins": MARGINS, "scale": {k: float(v) for k, v in SCALE.items()},
        "steps": args.steps, "lr": args.lr, "l2": args.l2, "hinge": args.hinge, "batch": args.batch, "eval_every": args.eval_every,
        "seed": args.seed,
        "presets": {},
    }
    for name, tgt in PRESETS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        delta = torch.zeros(128, requires_grad=True)
        opt = torch.optim.Adam([delta], lr=args.lr)
        # cosine decay to 10 % of lr: the minibatches are noisy, the last steps average them out
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * k / max(args.steps - 1, 1))))
        t_level, t_range, t_rate = tgt["level_st"], float(np.log(tgt["range"])), float(np.log(tgt["rate"]))

        def objective(lv: "torch.Tensor", rg: "torch.Tensor", rt: "torch.Tensor") -> "torch.Tensor":
            err = (((lv - t_level) / SCALE["level_st"]) ** 2 + ((rg - t_range) / SCALE["range"]) ** 2
                   + ((rt - t_rate) / SCALE["rate"]) ** 2).mean()
            got = {"level_st": lv, "range": rg, "rate": rt}
            for metric, sign, margin in MARGINS[name]:
                floor = margin if metric == "level_st" else float(np.log(margin))
                err = err + args.hinge * (torch.relu(sign * (floor - got[metric])) / SCALE[metric]).pow(2).mean()
            return err

        # The loss is not smooth (rounded durations, the F0 > 50 Hz voicing mask): Adam on minibatches can jump
        # out of a good basin, so the full set is scored every `--eval-every` steps and the best delta is kept.
        best = (float("inf"), delta.detach().clone(), -1)
        for step in range(args.steps + 1):
            if step % args.eval_every == 0 or step == args.steps:
                with torch.no_grad():
                    full = objective(*achieved(delta, utts)).item()
                    total = full + args.l2 * delta.pow(2).mean().item()
                if total < best[0]:
                    best = (total, delta.detach().clone(), step)
                print(f"  {name:12s} step {step:3d} full-set loss {total:7.3f} (fit {full:7.3f}) "
                      f"|delta|rms {delta.detach().pow(2).mean().sqrt().item():.2f}", flush=True)
            if step == args.steps:
                break
            pick = rng.choice(len(utts), size=min(args.batch, len(utts)), replace=False)
            loss = objective(*achieved(delta, [utts[i] for i in pick])) + args.l2 * (delta ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        delta = best[1]
        print(f"  {name:12s} kept step {best[2]} (full-set loss {best[0]:.3f})")
        with torch.no_grad():
            lv, rg, rt = (t.numpy() for t in achieved(delta, utts))
        res = {"level_st": float(np.median(lv)), "range": float(np.exp(np.median(rg))),
               "rate": float(np.exp(np.median(rt))),
               "level_st_minmax": [float(lv.min()), float(lv.max())],
               "range_minmax": [float(np.exp(rg.min())), float(np.exp(rg.max()))],
               "rate_minmax": [float(np.exp(rt.min())), float(np.exp(rt.max()))],
               "kept_step": best[2], "full_set_loss": best[0],
               "delta_rms": float(delta.detach().pow(2).mean().sqrt()),
               "delta_maxabs": float(delta.detach().abs().max())}
        presets[name] = (delta.detach().numpy() * spread).astype(np.float32)
        doc["presets"][name] = {"target": tgt, "achieved_predictor_median": res}
        print(f"{name:12s} target level {tgt['level_st']:+.2f} st range x{tgt['range']:.2f} rate x{tgt['rate']:.2f} | "
              f"achieved (median of {len(utts)}) level {res['level_st']:+.2f} st [{lv.min():+.2f},{lv.max():+.2f}] "
              f"range x{res['range']:.2f} [{res['range_minmax'][0]:.2f},{res['range_minmax'][1]:.2f}] "
              f"rate x{res['rate']:.3f} [{res['rate_minmax'][0]:.3f},{res['rate_minmax'][1]:.3f}] "
              f"|delta|rms {res['delta_rms']:.2f} max {res['delta_maxabs']:.2f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    if args.only:
        print("--only given: nothing saved")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **presets, targets=np.array(json.dumps(doc, ensure_ascii=False)))
    print(f"saved {args.out} ({time.perf_counter() - t_start:.0f} s total)")


# ------------------------------------------------------------------------------------------ verifying


def _summary(rows: list[dict], key_range: str, key_med: str, key_dur: str) -> tuple[list[str], list[str], list[str],
                                                                                 list[str]]:
    """Markdown tables (over all, per voice) and direction failures (over all, per voice) for one measurement."""
    neutral = {(r["voice"], r["text"]): r for r in rows if r["preset"] == "neutral"}
    voices = list(dict.fromkeys(r["voice"] for r in rows))
    lines = ["| preset | range_st neutral -> preset (median) | d range_st | d median F0 (st) | duration ratio | "
             "range_st / neutral (max) | duration ratio (min-max) |",
             "|---|---|---|---|---|---|---|"]
    per_voice = ["| voice | " + " | ".join(f"{k}: dR / dF0 / dur" for k in PRESETS) + " |",
                 "|---|" + "---|" * len(PRESETS)]
    cells: dict[str, list[str]] = {v: [] for v in voices}
    fails, per_voice_fails = [], []
    for name in PRESETS:
        rs = [r for r in rows if r["preset"] == name]
        ns = [neutral[(r["voice"], r["text"])] for r in rs]
        metric = {"range": np.array([r[key_range] - q[key_range] for r, q in zip(rs, ns)]),
                  "level": np.array([ST * np.log(r[key_med] / q[key_med]) for r, q in zip(rs, ns)]),
                  "dur": np.array([r[key_dur] / q[key_dur] - 1.0 for r, q in zip(rs, ns)])}
        rr = np.array([r[key_range] / max(q[key_range], 1e-6) for r, q in zip(rs, ns)])
        dur = metric["dur"] + 1.0
        lines.append(f"| {name} | {np.median([q[key_range] for q in ns]):.2f} -> {np.median([r[key_range] for r in rs]):.2f}"
                     f" | {np.median(metric['range']):+.2f} | {np.median(metric['level']):+.2f} | {np.median(dur):.3f} | "
                     f"{rr.max():.2f} | {dur.min():.2f}-{dur.max():.2f} |")
        by_voice = {v: np.array([r["voice"] == v for r in rs]) for v in voices}
        for v in voices:
            sel = by_voice[v]
            cells[v].append(f"{np.median(metric['range'][sel]):+.2f} / {np.median(metric['level'][sel]):+.2f} / "
                            f"{np.median(dur[sel]):.2f}")
        for key, sign in DIRECTIONS[name]:
            if np.sign(np.median(metric[key])) != sign:
                fails.append(f"{name}: {key} median {np.median(metric[key]):+.3f} (wanted sign {sign:+d})")
            for v in voices:
                med = np.median(metric[key][by_voice[v]])
                if np.sign(med) != sign:
                    per_voice_fails.append(f"{name} {v}: {key} {med:+.3f} (wanted sign {sign:+d})")
        if dur.min() < 0.7 or dur.max() > 1.4:
            fails.append(f"{name}: duration ratio outside 0.7-1.4 ({dur.min():.2f}-{dur.max():.2f})")
        if rr.max() >= 2.0:
            fails.append(f"{name}: range_st reaches {rr.max():.2f}x neutral")
    per_voice += [f"| {v} | " + " | ".join(cells[v]) + " |" for v in voices]
    return lines, per_voice, fails, per_voice_fails


def verify(args: argparse.Namespace) -> None:
    import torch

    from greentts import Engine
    from greentts.clone.analysis import pitch_stats
    from greentts.clone.kokoro_torch import TorchKokoro
    from greentts.models.assets import kokoro_model_path
    from greentts.voice import Voice

    t_start = time.perf_counter()
    data = np.load(args.out)
    presets = {"neutral": np.zeros(128, np.float32), **{k: data[k] for k in PRESETS}}
    eng = Engine(workers=1, threads_per_worker=args.threads)
    sess = eng.backends["kokoro"].new_session(args.threads)
    tk = TorchKokoro(kokoro_model_path(), threads=args.threads)
    spread = spread_of(eng)
    for k in PRESETS:
        print(f"{k:12s} |preset/spread| rms {np.sqrt(np.mean((presets[k] / spread) ** 2)):.2f}")
    rows: list[dict] = []
    for v in VERIFY_VOICES:
        stock = eng.voices.get(v)
        for text in VERIFY_SENTENCES[lang_of(eng, v)]:
            ids = [i for s in eng.phonemize(text, voice=v, lang=lang_of(eng, v)) for i in s.ids]
            prep = tk.prepare(ids)
            for name, p in presets.items():
                table = stock.table.astype(np.float32).copy()
                table[:, 128:] += p
                voice = Voice("x", stock.language, "x", "unknown", ("kokoro",), table)
                audio = sess.synthesize(ids, voice, 1.0, 0)
                ps = pitch_stats(audio, 24000)
                with torch.no_grad():  # the F0 contour the decoder is fed (TorchKokoro, same style row)
                    out = tk.forward(prep, torch.from_numpy(voice.style(len(ids)).copy()), audio=False)
                f0 = out.f0.numpy()
                f0 = f0[f0 > 50.0]
                q10, q50, q90 = np.percentile(f0, [10, 50, 90])
                rows.append({"voice": v, "text": text, "preset": name, "range_st": ps.range_st,
                             "median_hz": ps.median_hz, "dur_s": len(audio) / 24000, "p10_hz": ps.p10_hz,
                             "p90_hz": ps.p90_hz, "voiced_fraction": ps.voiced_fraction,
                             "pred_range_st": float(12 * np.log2(q90 / q10)), "pred_median_hz": float(q50),
                             "pred_dur_s": float(out.durations.sum()) * TorchKokoro.FRAME_S})
        print(f"  {v} done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    a_lines, a_voice, a_fails, a_vfails = _summary(rows, "range_st", "median_hz", "dur_s")
    p_lines, p_voice, p_fails, p_vfails = _summary(rows, "pred_range_st", "pred_median_hz", "pred_dur_s")
    text = ("### Real audio (onnxruntime), pitch_stats (pYIN)\n\n" + "\n".join(a_lines)
            + "\n\nPer voice (median over sentences): d range_st / d median F0 (st) / duration ratio\n\n"
            + "\n".join(a_voice)
            + "\n\nDirection failures (median over all): " + ("; ".join(a_fails) or "none")
            + "\n\nDirection failures (per voice): " + ("; ".join(a_vfails) or "none")
            + "\n\n### Predicted F0 contour fed to the decoder (TorchKokoro, same style rows; no pitch tracker)\n\n"
            + "\n".join(p_lines) + "\n\n" + "\n".join(p_voice)
            + "\n\nDirection failures (median over all): " + ("; ".join(p_fails) or "none")
            + "\n\nDirection failures (per voice): " + ("; ".join(p_vfails) or "none") + "\n")
    print(text)
    print(f"verify: {len(rows)} syntheses in {time.perf_counter() - t_start:.0f} s")
    if args.verify_out:
        args.verify_out.write_text(text)
        args.verify_out.with_suffix(".json").write_text(json.dumps(rows, ensure_ascii=False, indent=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--l2", type=float, default=0.5, help="penalty weight on mean(delta**2)")
    ap.add_argument("--hinge", type=float, default=4.0, help="weight of the per-utterance direction floors (MARGINS)")
    ap.add_argument("--batch", type=int, default=8, help="utterances per Adam step")
    ap.add_argument("--eval-every", type=int, default=10, help="score the full set (keep the best) every N steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch/onnxruntime threads (1 is much faster on a busy 2-vCPU box)")
    ap.add_argument("--only", nargs="*", help="fit only these presets and save nothing (for tuning)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--verify", action="store_true", help="check the saved presets on the ONNX path")
    ap.add_argument("--verify-out", type=Path, default=None, help="also write the verify tables here (and every measurement to the .json beside it)")
    args = ap.parse_args()
    verify(args) if args.verify else fit(args)


if __name__ == "__main__":
    main()
