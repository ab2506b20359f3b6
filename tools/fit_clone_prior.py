"""Fit the cloning prior shipped as ``src/greentts/data/clone_prior.npz`` (the instant preview's map).

Self-generated data, all on the real synthesis path (onnxruntime Kokoro) and the real encoder (CAM++):

1. every stock voice speaks two sentences of its language: its mean embedding and ln median F0;
2. ``--samples`` random styles ``T_b + delta * spread`` around and between the stock voices (``b`` drawn
   from the voices not held out; ``delta`` a random move towards another voice plus noise) are
   synthesized, embedded and pitch-tracked;
3. a ridge regression from ``[embedding - embedding_b, lnF0 - lnF0_b, 1]`` to ``delta`` is fitted, the
   penalty chosen on a validation split (its error is printed).

The voices in HELD_OUT are never used as a base or a target here, so tests and ``bench/clone.py`` can
enroll from them as unseen speakers. About 10 minutes on 2 vCPUs:

    .venv/bin/python tools/fit_clone_prior.py --samples 320
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from greentts import Engine
from greentts.clone.analysis import pitch_stats
from greentts.clone.campplus import SpeakerEncoder, fetch_campplus_weights
from greentts.models.assets import default_cache_dir

HELD_OUT = ("af_nicole", "am_eric", "bf_lily", "zf_xiaoyi", "zm_yunxia")
SENTENCES = {
    "en": ["A light rain fell on the quiet streets of the town.",
           "Please leave your name and number after the tone.",
           "The museum opens at ten and closes at six.",
           "He bought fresh bread and cheese at the market."],
    "zh": ["小雨轻轻地落在安静的街道上。", "请在提示音后留下您的姓名和电话。",
           "博物馆早上十点开门，下午六点关门。", "他在市场上买了新鲜的面包和奶酪。"],
}
OUT = Path(__file__).resolve().parents[1] / "src" / "greentts" / "data" / "clone_prior.npz"


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=320)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--stock-cache", type=Path, default=None, help="reuse/save the stock voices' measurements")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    enc = SpeakerEncoder(fetch_campplus_weights(default_cache_dir()))
    t0 = time.perf_counter()
    with Engine(workers=1, threads_per_worker=2) as eng:
        names = eng.voices.names()
        tables = np.stack([eng.voices.get(n).table for n in names]).astype(np.float32)
        spread = tables.std(axis=0).mean(axis=0) + 1e-4
        lang = {n: ("zh" if eng.voices.get(n).lang == "zh" else "en") for n in names}

        def measure(voice: str, sentences: list[str]) -> tuple[np.ndarray, float]:
            embs, logs = [], []
            for text in sentences:
                r = eng.synthesize(text, voice=voice, lang=lang_of(voice))
                embs.append(unit(enc.embed_numpy(r.audio, r.sample_rate)))
                logs.append(np.log(pitch_stats(r.audio, r.sample_rate).median_hz))
            return unit(np.mean(embs, axis=0)), float(np.mean(logs))

        def lang_of(voice: str) -> str:
            return lang[voice.split(":")[0]] if ":" in voice else lang.get(voice, "en")

        emb, logf0 = np.zeros((len(names), 192), np.float32), np.zeros(len(names), np.float32)
        cached = np.load(args.stock_cache) if args.stock_cache and args.stock_cache.is_file() else None
        if cached is not None and list(cached["voices"]) == names:
            emb, logf0 = cached["emb"], cached["logf0"]
        else:
            for i, n in enumerate(names):
                emb[i], logf0[i] = measure(n, SENTENCES[lang[n]][:2])
                print(f"stock {i + 1}/{len(names)} {n} {np.exp(logf0[i]):.0f} Hz", flush=True)
            if args.stock_cache:
                np.savez(args.stock_cache, voices=np.array(names), emb=emb, logf0=logf0)
        pool = [n for n in names if n not in HELD_OUT]
        X, Y = [], []
        for k in range(args.samples):
            b = str(rng.choice(pool))
            other = str(rng.choice([n for n in pool if n != b and lang[n] == lang[b]] or pool))
            bi, oi = names.index(b), names.index(other)
            toward = (tables[oi] - tables[bi]).mean(axis=0) / spread
            delta = rng.uniform(0.0, 1.0) * toward + rng.normal(0.0, rng.uniform(0.2, 0.8), 256)
            delta = np.clip(delta, -3, 3).astype(np.float32)
            table = tables[bi] + delta[None, :] * spread[None, :]
            text = SENTENCES[lang[b]][int(rng.integers(len(SENTENCES[lang[b]])))]
            audio = synth_table(eng, table, text, lang[b])
            try:
                f = float(np.log(pitch_stats(audio, 24000).median_hz))
            except ValueError:
                continue
            e = unit(enc.embed_numpy(audio, 24000))
            X.append(np.concatenate([e - emb[bi], [f - logf0[bi], 1.0]]))
            Y.append(delta)
            if (k + 1) % 20 == 0:
                print(f"sample {k + 1}/{args.samples} ({time.perf_counter() - t0:.0f} s)", flush=True)
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    n_val = max(20, len(X) // 5)
    best = None
    for lam in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        W = ridge(X[n_val:], Y[n_val:], lam)
        err = float(np.mean((X[:n_val] @ W - Y[:n_val]) ** 2))
        print(f"ridge lambda {lam}: validation MSE {err:.4f} (predicting 0: {np.mean(Y[:n_val] ** 2):.4f})")
        if best is None or err < best[0]:
            best = (err, lam)
    W = ridge(X, Y, best[1])
    np.savez_compressed(args.out, voices=np.array(names), emb=emb, logf0=logf0, spread=spread.astype(np.float32),
                        weights=W.astype(np.float32), held_out=np.array(HELD_OUT),
                        info=np.array(f"samples={len(X)} lambda={best[1]} val_mse={best[0]:.4f} seed={args.seed}"))
    print(f"wrote {args.out} ({len(X)} samples, lambda {best[1]}, {time.perf_counter() - t0:.0f} s)")


def ridge(X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    reg = lam * np.eye(X.shape[1])
    reg[-1, -1] = 0.0  # no penalty on the intercept
    return np.linalg.solve(X.T @ X + reg, X.T @ Y)


_SESSION = None


def synth_table(eng: Engine, table: np.ndarray, text: str, lang: str) -> np.ndarray:
    """Synthesize ``text`` with a raw style table through the engine's Kokoro session."""
    from greentts.voice import Voice

    voice = Voice("_prior", "zh" if lang == "zh" else "en-us", "prior", "unknown", ("kokoro",),
                  np.ascontiguousarray(table, dtype=np.float32))
    global _SESSION
    if _SESSION is None:
        _SESSION = eng.backends["kokoro"].new_session(2)
    session = _SESSION
    out = []
    for seg in eng.phonemize(text, lang=lang):
        out.append(session.synthesize(seg.ids, voice, 1.0, 0))
    return np.concatenate(out)


if __name__ == "__main__":
    main()
