"""Intelligibility of greentts output, measured with offline ASR (Whisper base via faster-whisper).

Synthesizes the sentences of the real-model tests (tests/test_engine_model.py) with each voice and
prints word error rate (English) / character error rate (Mandarin) per voice, plus the mean.
ASR output is normalized with greentts' own normalizer before scoring ("5" -> "五", "7:30" -> words).

    python bench/intelligibility.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_engine_model import EN, MAX_CER_ZH, MAX_WER_EN, ZH  # noqa: E402

from greentts import Engine  # noqa: E402
from greentts.quality.asr import Transcriber, char_error_rate, word_error_rate  # noqa: E402
from greentts.text.normalize import normalize_en, normalize_zh  # noqa: E402

VOICES = {"en": ["af_heart", "am_michael", "bf_emma"], "zh": ["zf_xiaoxiao", "zm_yunxi"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    asr = Transcriber()
    rows = []
    with Engine() as engine:
        for lang, voices in VOICES.items():
            for voice in voices:
                errors = []
                for text in EN if lang == "en" else ZH:
                    r = engine.synthesize(text, voice=voice)
                    heard = asr.transcribe(r.audio, r.sample_rate, lang)
                    errors.append(word_error_rate(text, normalize_en(heard)) if lang == "en"
                                  else char_error_rate(text, normalize_zh(heard)))
                rows.append((lang, voice, statistics.mean(errors), max(errors)))
                print(f"{voice}: mean {'WER' if lang == 'en' else 'CER'} {rows[-1][2]:.3f}", flush=True)
    lines = ["| voice | metric | mean | worst sentence | test threshold (mean) |", "|---|---|---|---|---|"]
    for lang, voice, mean, worst in rows:
        metric, limit = ("WER", MAX_WER_EN) if lang == "en" else ("CER", MAX_CER_ZH)
        lines.append(f"| {voice} | {metric} | {mean:.3f} | {worst:.3f} | {limit:.2f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
