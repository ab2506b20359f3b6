"""greentts Engine vs a minimal reference pipeline, measured side by side in one run.

Both pipelines speak the same fixed corpus (bench/corpus_en.txt + bench/corpus_zh.txt: 50 English
sentences with af_heart, 50 Mandarin sentences with zf_xiaoxiao) with the same model file, voices
and G2P (greentts' frontend, one sentence per segment), so they do identical model work:

* reference: one onnxruntime session with 2 intra-op threads; G2P then model, sentence by sentence.
* engine:    ``greentts.Engine`` defaults (one single-thread session per core, segment-level
             scheduling, the im2col rewrite of the graph, decoded in windows that skip the boundary
             padding: ``kokoro_graph="windowed"``).
* engine-whole-graph: the same engine rendering every frame (``kokoro_graph="im2col"``: the
             shipped graph's audio bit for bit), to show what windowed decoding saves.
* engine-original-graph: the same engine on the graph exactly as shipped, to separate the
             scheduling gain from the graph-rewrite gain.
* engine-own-sessions: the engine with a model session of its own per worker
             (``share_sessions=False``, the behaviour before issue 20), to show what sharing one
             session per thread count saves in memory and costs (or not) in throughput.
* engine-heap-weights: the engine with each session holding its own weights and pre-packed
             copies on the heap (``map_weights=False``, the behaviour before 2026-12-07), to show
             what mapping them from one file saves and costs.
* engine-dict-frontend: the engine with the G2P libraries' dictionaries loaded into memory
             (``compact_frontend=False``, the behaviour before 2026-12-08) instead of read from
             on-disk tables, to show what the tables save and cost.

Memory: peak RSS (the kernel's high-water mark) and peak PSS (``/proc/self/smaps_rollup``, sampled
every 0.1 s). RSS counts a page of a mapped file once per mapping, so sessions sharing one weights
file are counted once each in RSS; PSS counts each physical page once (divided among the processes
sharing it), the memory the process really costs.

Each measurement runs in its own subprocess (so peak RSS is per pipeline), alternating
reference/engine for ``--reps`` rounds; medians are reported, and the throughput ratio is the
median of the per-round ratios. First-audio latency: time from the call to the first audio of a
5-sentence paragraph (engine: ``stream()``; reference: its first sentence, done).

    python bench/throughput.py --reps 3 --markdown docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = {"en": (HERE / "corpus_en.txt", "af_heart"), "zh": (HERE / "corpus_zh.txt", "zf_xiaoxiao")}
LATENCY_REPS = 7
KINDS = ("reference", "engine", "engine-whole-graph", "engine-original-graph", "engine-own-sessions",
         "engine-heap-weights", "engine-dict-frontend")
TITLES = {"reference": "reference (1 session x 2 threads)", "engine": "greentts Engine",
          "engine-whole-graph": "Engine, whole graph", "engine-original-graph": "Engine, original graph", "engine-own-sessions": "Engine, a session per worker",
          "engine-heap-weights": "Engine, weights on the heap", "engine-dict-frontend": "Engine, G2P dicts in memory"}


def _texts() -> dict[str, list[str]]:
    return {lang: [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
            for lang, (path, _) in CORPUS.items()}


def _reference(texts: dict[str, list[str]]) -> dict[str, float]:
    """The minimal pipeline: G2P, then one 2-thread ONNX session, one sentence after another."""
    import onnxruntime as ort

    from greentts.models.assets import kokoro_model_path
    from greentts.text.frontend import Frontend
    from greentts.voices.store import VoiceStore

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(kokoro_model_path()), so, providers=["CPUExecutionProvider"])
    frontend, store = Frontend(), VoiceStore()
    voices = {lang: store.get(v) for lang, (_, v) in CORPUS.items()}

    def speak(sentence: str, lang: str) -> np.ndarray:
        (seg,) = frontend.phonemize(sentence, lang=lang, first_max_ids=510)
        feed = {"tokens": np.array([[0, *seg.ids, 0]], np.int64), "style": voices[lang].style(len(seg.ids)),
                "speed": np.array([1.0], np.float32)}
        return sess.run(None, feed)[0]

    speak("Warm up.", "en"), speak("预热。", "zh")
    paragraph = texts["en"][:5]
    latency = []
    for _ in range(LATENCY_REPS):
        t = time.perf_counter()
        speak(paragraph[0], "en")
        latency.append(time.perf_counter() - t)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    samples = sum(len(speak(s, lang)) for lang, sentences in texts.items() for s in sentences)
    return {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "audio_s": samples / 24000, "first_audio_s": statistics.median(latency)}


def _engine(texts: dict[str, list[str]], graph: str = "windowed", share: bool = True,
            mapped: bool = True, compact: bool = True) -> dict[str, float]:
    from greentts import Engine

    with Engine(kokoro_graph=graph, share_sessions=share, map_weights=mapped, compact_frontend=compact) as engine:
        engine.warm_up()
        paragraph = " ".join(texts["en"][:5])
        latency = []
        for _ in range(LATENCY_REPS):
            t = time.perf_counter()
            stream = engine.stream(paragraph, voice="af_heart")
            next(stream)
            latency.append(time.perf_counter() - t)
            stream.close()  # cancels queued segments; running ones finish, so wait before the next try
            engine.wait_idle()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        samples = 0
        for lang, sentences in texts.items():
            # one sentence per line -> one segment per sentence, as in the reference; no inserted pauses
            result = engine.synthesize("\n\n".join(sentences), voice=CORPUS[lang][1], lang=lang, pause_scale=0)
            samples += len(result.audio)
        return {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
                "audio_s": samples / 24000, "first_audio_s": statistics.median(latency),
                "workers": engine.workers}


class _PeakPss:
    """The highest proportional set size seen, sampled from a thread (the kernel keeps no PSS peak)."""

    def __init__(self, every_s: float = 0.1) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(every_s,), daemon=True)
        self._thread.start()

    @staticmethod
    def now_mb() -> float:
        with open("/proc/self/smaps_rollup", encoding="ascii") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("Pss:"))

    def _loop(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mb, self.now_mb())


def child(kind: str) -> None:
    texts = _texts()
    pss = _PeakPss()
    if kind == "reference":
        out = _reference(texts)
    else:
        graph = {"engine-original-graph": "original", "engine-whole-graph": "im2col"}.get(kind, "windowed")
        out = _engine(texts, graph, share=kind != "engine-own-sessions", mapped=kind != "engine-heap-weights",
                      compact=kind != "engine-dict-frontend")
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_pss_mb"] = pss.stop()
    print(json.dumps(out))


def _run(kind: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", kind], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--child", choices=KINDS)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "throughput.json")
    ap.add_argument("--markdown", type=Path, help="also write a Markdown table here")
    ap.add_argument("--kinds", default=",".join(KINDS), help="pipelines to run (reference is always run)")
    args = ap.parse_args()
    kinds = ("reference", *[k for k in args.kinds.split(",") if k in KINDS and k != "reference"])
    if args.child:
        child(args.child)
        return
    rounds = []
    for i in range(args.reps):
        # the engines in alternating order (the machine's speed drifts within a round)
        order = kinds if i % 2 == 0 else (kinds[0], *reversed(kinds[1:]))
        got = {kind: _run(kind) for kind in order}
        rounds.append({kind: got[kind] for kind in kinds})
        print(f"round {i + 1}: " + ", ".join(
            f"{k} {r['audio_s'] / r['wall_s']:.2f} x RT" for k, r in rounds[-1].items()), flush=True)
    summary = summarize(rounds, kinds)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=1))
    table = markdown(summary, args.reps, kinds)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


def summarize(rounds: list[dict], kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for kind in kinds:
        rs = [r[kind] for r in rounds]
        out[kind] = {
            "audio_s": statistics.median(r["audio_s"] for r in rs),
            "throughput_x_rt": statistics.median(r["audio_s"] / r["wall_s"] for r in rs),
            "cpu_s_per_audio_s": statistics.median(r["cpu_s"] / r["audio_s"] for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
            "peak_pss_mb": statistics.median(r.get("peak_pss_mb", float("nan")) for r in rs),
            "first_audio_s": statistics.median(r["first_audio_s"] for r in rs),
        }
    def speed(r: dict[str, float]) -> float:
        return r["audio_s"] / r["wall_s"]

    out["ratio"] = {kind: statistics.median(speed(r[kind]) / speed(r["reference"]) for r in rounds)
                    for kind in kinds[1:]}
    return out


def markdown(s: dict[str, dict[str, float]], reps: int, kinds: tuple[str, ...] = KINDS) -> str:
    cols = [s[k] for k in kinds]
    rows = [
        ("audio seconds per wall second", *(f"{c['throughput_x_rt']:.2f}" for c in cols)),
        ("throughput vs reference", "1.00x", *(f"**{s['ratio'][k]:.2f}x**" for k in kinds[1:])),
        ("CPU seconds per audio second", *(f"{c['cpu_s_per_audio_s']:.3f}" for c in cols)),
        ("peak RSS (MB)", *(f"{c['peak_rss_mb']:.0f}" for c in cols)),
        ("peak PSS (MB)", *(f"{c['peak_pss_mb']:.0f}" for c in cols)),
        ("first audio, 5-sentence paragraph (s)", *(f"{c['first_audio_s']:.3f}" for c in cols)),
        ("audio produced (s)", *(f"{c['audio_s']:.1f}" for c in cols)),
    ]
    lines = [
        f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; medians of {reps} alternating rounds.",
        "",
        "| measure | " + " | ".join(TITLES[k] for k in kinds) + " |",
        "|---" * (len(kinds) + 1) + "|",
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
        f"Throughput ratios are medians of per-round ratios (each round runs all {len(kinds)} back to back).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
