"""Intelligibility side by side: greentts, the raw pipeline it wraps, and kokoro-onnx, on hard text.

Three pipelines speak the same sentences with the same Kokoro-82M int8 model file and voice table:

- **greentts**: ``Engine.synthesize`` (normalization, segmentation, dictionaries, G2P).
- **raw**: the G2P library alone on the written sentence (hibari, misaki's English G2P, for English;
  misaki.zh for Mandarin, with hibari for its English words), its phonemes straight into Kokoro.
- **kokoro-onnx** (PyPI, espeak-ng G2P), its voices file built from greentts' shipped voice tables.

Whisper base transcribes each with digit tokens suppressed (numbers come out in words, so a wrong
reading of "555-0199" is heard as wrong) and the transcript is scored against the corpus' hand-written
spoken reference (greentts.quality.scoring: no pipeline's normalizer touches either side):
WER for English (bench/corpus/hard_en.tsv), toneless pinyin error for Mandarin (hard_zh.tsv), token
error for code-switched Mandarin with English (mixed.tsv). Corpus-level rates per class and overall.

    python bench/intelligibility.py [--markdown FILE] [--json FILE] [--limit N] [--every K] [--cache DIR]

``--every K`` keeps every K-th sentence of each set (from the first): an even sample of all classes, where
``--limit`` keeps the first N (the corpora are ordered by class).

``--cache`` keeps transcripts keyed by each pipeline's exact model input (phoneme ids or text) and voice,
so that iterating on one pipeline re-synthesizes only what changed (Kokoro is deterministic: a cached
transcript is the one a fresh run makes). Needs the asr extra and ``pip install kokoro-onnx==0.6.1``
(``make bench-intelligibility`` installs both). ``--nemo`` adds a fourth pipeline for English: NeMo's
text normalizer (``pip install nemo-text-processing``, pynini WFSTs) in front of the raw pipeline,
to measure by ear whether it would read better than greentts' own rules.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from greentts import Engine
from greentts.quality.asr import Transcriber
from greentts.quality.scoring import best_errors, en_words, zh_tokens
from greentts.text.lexicon import kokoro_vocab

CORPUS = Path(__file__).resolve().parent / "corpus"
SETS = {  # name: (file, language for ASR, voice, tokens, metric)
    "en": ("hard_en.tsv", "en", "af_heart", en_words, "WER"),
    "zh": ("hard_zh.tsv", "zh", "zf_xiaoxiao", zh_tokens, "pinyin error"),
    "mixed": ("mixed.tsv", "zh", "zf_xiaoxiao", zh_tokens, "token error"),
}
PIPELINES = ("greentts", "raw", "kokoro-onnx")
WHOLE = "greentts-whole-graph"  # with --whole-graph: greentts on kokoro_graph="im2col" (every pad frame rendered)
NEMO = "nemo+raw"  # with --nemo: NeMo's WFST normalizer on the written text, then the raw pipeline


@dataclass
class Case:
    set: str
    cls: str
    written: str
    spoken: str


def load(name: str) -> list[Case]:
    cases = []
    for line in (CORPUS / SETS[name][0]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cls, written, spoken = line.split("\t")[:3]
        cases.append(Case(name, cls.strip(), written.strip(), spoken.strip()))
    return cases


class Raw:
    """The G2P library alone, phonemes straight into greentts' Kokoro session (same model, same voice)."""

    def __init__(self, engine: Engine) -> None:
        from hibari.g2p import G2P
        from misaki.zh import ZHG2P

        self.en = G2P()
        self.zh = ZHG2P(en_callable=lambda t: _first(self.en(t)))
        self.vocab = kokoro_vocab()
        self.session = engine.backends["kokoro"].new_session(engine.latency_threads)
        self.engine = engine

    def ids(self, text: str, lang: str) -> list[int]:
        phonemes = _first(self.en(text)) if lang == "en" else _first(self.zh(text))
        return [self.vocab[c] for c in phonemes if c in self.vocab][:510]

    def speak(self, ids: list[int], voice: str) -> tuple[np.ndarray, int]:
        return self.session.synthesize(ids, self.engine.voices.get(voice), 1.0, 0), 24000


def _first(result: object) -> str:
    return result[0] if isinstance(result, tuple) else str(result)


class KokoroOnnx:
    def __init__(self, engine: Engine, voices: list[str], workdir: Path) -> None:
        from kokoro_onnx import Kokoro

        from greentts.models.assets import kokoro_model_path

        path = workdir / "kokoro-onnx-voices.npz"
        np.savez(path, **{v: engine.voices.get(v).table[:, None, :] for v in voices})
        self.tts = Kokoro(str(kokoro_model_path(engine.config.cache_dir)), str(path))

    def speak(self, text: str, voice: str, lang: str) -> tuple[np.ndarray, int]:
        audio, rate = self.tts.create(text, voice=voice, lang="en-us" if lang == "en" else "cmn")
        return audio, rate


class Nemo:
    """nemo-text-processing's English normalizer (cased input), timed per sentence."""

    def __init__(self, cache_dir: Path) -> None:
        from nemo_text_processing.text_normalization.normalize import Normalizer

        self.normalizer = Normalizer(input_case="cased", lang="en", cache_dir=str(cache_dir / "nemo-grammars"))
        self.seconds: list[float] = []

    def __call__(self, text: str) -> str:
        t0 = time.perf_counter()
        out = self.normalizer.normalize(text, punct_post_process=True)
        self.seconds.append(time.perf_counter() - t0)
        return out


class Cache:
    def __init__(self, path: Path | None) -> None:
        self.path = path / "transcripts.json" if path else None
        self.data: dict[str, str] = {}
        if self.path and self.path.is_file():
            self.data = json.loads(self.path.read_text())

    def get(self, key: str, make: Callable[[], str]) -> str:
        if self.path is None:
            return make()
        if key not in self.data:
            self.data[key] = make()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data, ensure_ascii=False))
        return self.data[key]


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:24]


def run(sets: list[str], limit: int | None, cache: Cache, out_dir: Path, nemo: Nemo | None = None,
        chosen: tuple[str, ...] = PIPELINES, every: int = 1) -> list[dict]:
    asr = Transcriber()
    rows = []
    with Engine() as engine, Engine(kokoro_graph="im2col", workers=1, latency_workers=0) as whole:
        raw = Raw(engine) if "raw" in chosen or nemo else None
        peer = KokoroOnnx(engine, sorted({SETS[s][2] for s in sets}), out_dir) if "kokoro-onnx" in chosen else None
        for name in sets:
            _, lang, voice, _, _ = SETS[name]
            g2p_lang = "en" if name == "en" else "zh"
            pipelines = chosen + ((NEMO,) if nemo and name == "en" else ())
            for case in load(name)[:limit:every]:
                hears = {}
                for pipeline in pipelines:
                    t0 = time.perf_counter()
                    if pipeline in ("greentts", WHOLE):
                        eng = engine if pipeline == "greentts" else whole
                        segs = eng.phonemize(case.written, voice=voice)
                        key = _key(pipeline, eng.config.kokoro_graph, voice, [s.ids for s in segs])
                        speak = lambda eng=eng: eng.synthesize(case.written, voice=voice)  # noqa: E731
                        make = lambda: (lambda r: asr.transcribe(r.audio, r.sample_rate, lang, True))(speak())  # noqa: E731
                    elif pipeline in ("raw", NEMO):
                        ids = raw.ids(nemo(case.written) if pipeline == NEMO else case.written, g2p_lang)
                        key = _key(pipeline, voice, ids)
                        make = lambda ids=ids: asr.transcribe(*raw.speak(ids, voice), lang, True)  # noqa: E731
                    else:
                        key = _key(pipeline, voice, g2p_lang, case.written)
                        make = lambda: asr.transcribe(*peer.speak(case.written, voice, g2p_lang), lang, True)  # noqa: E731
                    hears[pipeline] = cache.get(key, make)
                    errors, n = best_errors(case.spoken, hears[pipeline], SETS[name][3])
                    rows.append({"set": name, "class": case.cls, "pipeline": pipeline, "written": case.written,
                                 "spoken": case.spoken, "heard": hears[pipeline], "errors": errors, "n": n,
                                 "seconds": round(time.perf_counter() - t0, 2)})
                worst = [r for r in rows[-len(pipelines):] if r["errors"]]
                if worst:
                    print(f"[{name}/{case.cls}] {case.written}\n  " + "\n  ".join(
                        f"{r['pipeline']}: {r['errors']}/{r['n']} {r['heard']}" for r in worst), flush=True)
    return rows


def summarize(rows: list[dict]) -> tuple[str, dict]:
    agg: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        for cls in (r["class"], "ALL"):
            a = agg[(r["set"], cls, r["pipeline"])]
            a[0] += r["errors"]
            a[1] += r["n"]
            a[2] += 1
    summary: dict = {}
    lines = []
    for name in dict.fromkeys(r["set"] for r in rows):
        metric = SETS[name][4]
        pipelines = [p for p in (*PIPELINES, WHOLE, NEMO) if (name, "ALL", p) in agg]
        classes = sorted({c for (s, c, _) in agg if s == name and c != "ALL"}) + ["ALL"]
        lines += [f"\n**{name}** ({metric}, corpus-level; lower is better)\n",
                  "| class | sentences | " + " | ".join(pipelines) + " |", "|---|---|" + "---|" * len(pipelines)]
        for cls in classes:
            rates = {p: agg[(name, cls, p)][0] / max(agg[(name, cls, p)][1], 1) for p in pipelines}
            summary.setdefault(name, {})[cls] = rates
            label = f"**{cls}**" if cls == "ALL" else cls
            lines.append(f"| {label} | {agg[(name, cls, pipelines[0])][2]} | "
                         + " | ".join(f"{rates[p]:.3f}" for p in pipelines) + " |")
    return "\n".join(lines) + "\n", summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="en,zh,mixed")
    ap.add_argument("--limit", type=int, help="first N sentences of each set")
    ap.add_argument("--every", type=int, default=1, help="every K-th sentence of each set (an even sample)")
    ap.add_argument("--cache", type=Path, help="reuse transcripts keyed by each pipeline's model input")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--nemo", action="store_true", help="add NeMo's normalizer + the raw pipeline (English)")
    ap.add_argument("--pipelines", default=",".join(PIPELINES), help=f"of {', '.join(PIPELINES)}")
    ap.add_argument("--whole-graph", action="store_true",
                    help="add greentts on the whole graph (kokoro_graph='im2col'): what the windowed graph changes")
    args = ap.parse_args()
    chosen = tuple(p for p in args.pipelines.split(",") if p) + ((WHOLE,) if args.whole_graph else ())
    if args.every < 1:
        ap.error("--every must be 1 or more")
    out_dir = Path(args.cache or "/tmp/greentts-intelligibility")
    out_dir.mkdir(parents=True, exist_ok=True)
    nemo = Nemo(out_dir) if args.nemo else None
    rows = run(args.sets.split(","), args.limit, Cache(args.cache), out_dir, nemo, chosen, args.every)
    table, summary = summarize(rows)
    if nemo and nemo.seconds:
        ms = sorted(nemo.seconds)
        table += (f"\nNeMo normalizer: median {1000 * ms[len(ms) // 2]:.0f} ms, 90th percentile "
                  f"{1000 * ms[int(0.9 * len(ms))]:.0f} ms per sentence ({len(ms)} sentences).\n")
    print(table)
    for name, classes in summary.items():
        if WHOLE in classes["ALL"]:
            print(f"{name}: greentts {classes['ALL']['greentts']:.3f}, on the whole graph {classes['ALL'][WHOLE]:.3f}")
        if not {"raw", "kokoro-onnx", "greentts"} <= set(classes["ALL"]):
            continue
        peers = min(classes["ALL"]["raw"], classes["ALL"]["kokoro-onnx"])
        print(f"{name}: greentts {classes['ALL']['greentts']:.3f} = "
              f"{classes['ALL']['greentts'] / max(peers, 1e-9):.2f} x the better peer ({peers:.3f})")
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    sys.exit(main())
