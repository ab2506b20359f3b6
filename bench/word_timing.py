"""Word timestamps against faster-whisper's word timestamps on the same audio.

For each sentence, greentts' spoken words (from Kokoro's predicted durations) are matched to the words
Whisper base hears (digit tokens suppressed, so numbers come out as words; Mandarin compared
character by character), and each boundary between two consecutive matched words is compared
(see boundary_errors). Reports the median and 90th-percentile absolute error and the mean signed
error (a bias) per language. Whisper base's DTW timestamps run early (its words abut, and a word after
a pause starts up to 0.2 s before its sound), so two more references are reported: the same
comparison less Whisper's median offset, and the waveform itself (sound onsets and offsets around
pauses against the nearest word start and end), which also measures Whisper: its word ends before a
pause against the sound offsets, beside ours.

    python bench/word_timing.py [--per-lang N] [--json FILE]
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from greentts import Engine
from greentts.quality.asr import Transcriber

CORPUS = Path(__file__).resolve().parent / "corpus"


def _sentences(name: str, n: int) -> list[str]:
    rows = [line.split("\t") for line in (CORPUS / name).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    return [r[1].strip() for r in rows][:n]


def _key(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def _units(words: list[tuple[str, float, float]], lang: str) -> list[tuple[str, float, float]]:
    """Mandarin words split into characters (times shared out evenly); English words as they are."""
    if lang != "zh":
        return [(_key(w), a, b) for w, a, b in words if _key(w)]
    out = []
    for w, a, b in words:
        chars = [c for c in w if "\u4e00" <= c <= "\u9fff"]
        for i, c in enumerate(chars):
            out.append((c, a + (b - a) * i / len(chars), a + (b - a) * (i + 1) / len(chars)))
    return out


def boundary_errors(ours: list[tuple[str, float, float]], heard: list[tuple[str, float, float]],
                    lang: str) -> list[float]:
    """Signed errors of the boundaries between consecutive words both agree on.

    A boundary is the middle of the gap between two words (Whisper's words abut, so there it is the
    end of one and the start of the next); the first word's start and the last one's end are left
    out, because Whisper's DTW puts an utterance's first word at its first frame, silence or not."""
    a, b = _units(ours, lang), _units(heard, lang)
    matcher = difflib.SequenceMatcher(None, [x[0] for x in a], [x[0] for x in b], autojunk=False)
    pairs = [(block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size)]
    out = []
    for (i1, j1), (i2, j2) in zip(pairs, pairs[1:]):
        if i2 == i1 + 1 and j2 == j1 + 1:
            out.append((a[i1][2] + a[i2][1]) / 2 - (b[j1][2] + b[j2][1]) / 2)
    return out


def sound_edges(audio: np.ndarray, rate: int, silence_s: float = 0.08) -> tuple[list[float], list[float]]:
    """Where sound starts after, and stops before, at least ``silence_s`` of near-silence (below -34 dB
    of the loudest 5 ms): the waveform's own word boundaries, wherever a pause makes them visible."""
    hop = int(0.005 * rate)
    n = len(audio) // hop
    env = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1))
    loud = np.flatnonzero(env > 0.02 * env.max())
    onsets, offsets = [loud[0] * 0.005], []
    for prev, cur in zip(loud, loud[1:]):
        if (cur - prev) * 0.005 >= silence_s:
            offsets.append((prev + 1) * 0.005)
            onsets.append(cur * 0.005)
    offsets.append((loud[-1] + 1) * 0.005)
    return onsets, offsets


def edge_errors(words: list[tuple[str, float, float]], audio: np.ndarray, rate: int,
                ends_only: bool = False) -> list[float]:
    """Signed error of the nearest word start (end) for each sound onset (offset) heard after a pause.

    ``ends_only`` for Whisper, whose words abut: it gives a pause to the word after it, so its starts
    after a pause are not meant to be onsets; its word ends before a pause are."""
    onsets, offsets = sound_edges(audio, rate)
    starts, ends = [a for _, a, _ in words], [b for _, _, b in words]
    out = []
    pairs = ((offsets, ends),) if ends_only else ((onsets, starts), (offsets, ends))
    for edges, times in pairs:
        if not times:
            continue
        for t in edges:
            nearest = min(times, key=lambda x: abs(x - t))
            if abs(nearest - t) < 0.25:
                out.append(nearest - t)
    return out


def _stats(errors: list[float]) -> dict[str, float]:
    return {"n": len(errors), "median_abs_ms": round(1000 * statistics.median(abs(e) for e in errors), 1),
            "p90_abs_ms": round(1000 * sorted(abs(e) for e in errors)[int(0.9 * len(errors))], 1),
            "mean_signed_ms": round(1000 * statistics.fmean(errors), 1)}


def measure(engine: Engine, asr: Transcriber, texts: list[str], lang: str) -> dict[str, object]:
    whisper: list[float] = []
    edges: list[float] = []
    our_ends: list[float] = []
    whisper_ends: list[float] = []
    for text in texts:
        r = engine.synthesize(text, lang=lang)
        ours = [(w, a, b) for seg in r.segments for w, _, a, b in seg.spoken_words]
        heard = asr.words(r.audio, r.sample_rate, lang)
        whisper += boundary_errors(ours, heard, lang)
        edges += edge_errors(ours, r.audio, r.sample_rate)
        our_ends += edge_errors(ours, r.audio, r.sample_rate, ends_only=True)
        whisper_ends += edge_errors(heard, r.audio, r.sample_rate, ends_only=True)
    bias = statistics.median(whisper)
    return {"sentences": len(texts), "vs_whisper": _stats(whisper),
            "vs_whisper_less_its_median_offset": _stats([e - bias for e in whisper]),
            "vs_sound_edges": _stats(edges),
            "word_ends_before_a_pause_vs_sound_offsets": {"greentts": _stats(our_ends),
                                                         "whisper": _stats(whisper_ends)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-lang", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    asr = Transcriber()
    results = {}
    with Engine() as engine:
        for lang, name in (("en", "hard_en.tsv"), ("zh", "hard_zh.tsv")):
            results[lang] = measure(engine, asr, _sentences(name, args.per_lang), lang)
            print(lang, json.dumps(results[lang]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
